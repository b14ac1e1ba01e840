import request from 'supertest';
import type { Express } from 'express';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, grantCredits, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { applyWalletChange } from '../../../../domain/credits/apply-wallet-change';
import { encodeCursor } from '../../../../lib/cursor';

describe('wallet API', () => {
  let env: TestEnv;
  let app: Express;
  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const get = async (shop: ShopFixture, path: string) => request(app).get(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);

  it('GET /api/wallet gives balance, reserved and available as JSON numbers', async () => {
    const shop = await createShop(env.db, { credits: 500 });
    await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 120 WHERE shop_id = ${shop.id}::uuid`;
    const res = await get(shop, '/api/wallet');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ balance: 500, reserved: 120, available: 380 });
  });

  it('a brand-new shop has an empty wallet', async () => {
    const res = await request(app).get('/api/wallet').set('Authorization', `Bearer ${await sessionToken('fresh-wallet.myshopify.com')}`);
    expect(res.body).toEqual({ balance: 0, reserved: 0, available: 0 });
  });

  it('GET /api/wallet/transactions pages the ledger newest first, only the shop\'s own rows', async () => {
    const [shop, other] = [await createShop(env.db), await createShop(env.db, { credits: 7 })];
    for (const amount of [100, 200, 300]) await grantCredits(env.db, shop.id, amount);
    const first = await get(shop, '/api/wallet/transactions?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.data).toEqual([
      { id: expect.any(String), type: 'grant', amount: 300, balanceAfter: 600, reference: 'test', createdAt: expect.any(String) },
      expect.objectContaining({ amount: 200, balanceAfter: 300 }),
    ]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await get(shop, `/api/wallet/transactions?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ data: [expect.objectContaining({ amount: 100, balanceAfter: 100 })], nextCursor: null });
    expect((await get(other, '/api/wallet/transactions')).body.data).toHaveLength(1);
    expect((await get(shop, '/api/wallet/transactions?limit=0')).status).toBe(400);
    expect((await get(shop, '/api/wallet/transactions?cursor=%%%')).status).toBe(400);
  });

  interface Row { id: string; amount: number; balanceAfter: number; reference: string }

  async function pages(shop: ShopFixture, limit: number, between: (page: number) => Promise<void> = async () => undefined): Promise<Row[][]> {
    const out: Row[][] = [];
    let cursor: string | null = null;
    do {
      const res = await get(shop, `/api/wallet/transactions?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      out.push(res.body.data);
      cursor = res.body.nextCursor;
      await between(out.length);
    } while (cursor);
    return out;
  }

  it('pages a history complete and in apply order while a change that began before it commits in between', async () => {
    const shop = await createShop(env.db);
    // Begins before the other changes, applies after the first page was read.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let began!: () => void;
    const begun = new Promise<void>((r) => (began = r));
    const late = env.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT now()`;
      began();
      await released;
      await applyWalletChange(tx, { shopId: shop.id, type: 'grant', amount: 1000, idempotencyKey: 'late', reference: 'late' });
    }, { timeout: 20_000 });
    await begun;
    await new Promise((r) => setTimeout(r, 15));
    for (let i = 1; i <= 7; i++) await grantCredits(env.db, shop.id, i);

    const seen = await pages(shop, 3, async (page) => {
      if (page === 1) {
        release();
        await late;
      }
    });
    const rows = seen.flat();
    expect(seen.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(rows.map((r) => r.amount)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(new Set(rows.map((r) => r.id)).size).toBe(7);
    rows.forEach((r, i) => expect(r.balanceAfter).toBe((rows[i + 1]?.balanceAfter ?? 0) + r.amount));

    // Read again, the late change is the newest: it applied last.
    const again = (await pages(shop, 3)).flat();
    expect(again.map((r) => r.amount)).toEqual([1000, 7, 6, 5, 4, 3, 2, 1]);
    expect(again[0]).toMatchObject({ reference: 'late', balanceAfter: 1028 });
  });

  it('a cursor from before the apply order (createdAt + id) pages on from the row it names; one naming no row of the shop is a 400', async () => {
    const [shop, other] = [await createShop(env.db), await createShop(env.db, { credits: 9 })];
    for (const amount of [10, 20, 30, 40]) await grantCredits(env.db, shop.id, amount);
    const first = await get(shop, '/api/wallet/transactions?limit=2');
    const last = first.body.data[1] as Row & { createdAt: string };
    const legacy = encodeCursor({ createdAt: new Date(last.createdAt), id: last.id });
    const next = await get(shop, `/api/wallet/transactions?limit=2&cursor=${legacy}`);
    expect(next.status).toBe(200);
    expect(next.body.data.map((r: Row) => r.amount)).toEqual([20, 10]);
    expect(next.body.nextCursor).toBeNull();

    const [otherRow] = (await get(other, '/api/wallet/transactions')).body.data as (Row & { createdAt: string })[];
    const foreign = encodeCursor({ createdAt: new Date(otherRow!.createdAt), id: otherRow!.id });
    const refused = await get(shop, `/api/wallet/transactions?cursor=${foreign}`);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'cursor' }] });
  });

  it('refuses a cursor it did not mint with 400 on cursor, never a 500', async () => {
    const shop = await createShop(env.db, { credits: 5 });
    const mint = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    for (const bad of [{ seq: '0' }, { seq: '-1' }, { seq: 3 }, { seq: 'x' }, { seq: '9223372036854775808' }, { seq: '01' }, {}, { id: 'nope' }]) {
      const res = await get(shop, `/api/wallet/transactions?cursor=${mint(bad)}`);
      expect({ bad, status: res.status, path: res.body.error?.details?.[0]?.path }).toEqual({ bad, status: 400, path: 'cursor' });
    }
    expect((await get(shop, `/api/wallet/transactions?cursor=${mint({ seq: '9223372036854775807' })}`)).body.data).toHaveLength(1);
  });
});
