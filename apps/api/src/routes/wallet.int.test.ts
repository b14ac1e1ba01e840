import request from 'supertest';
import type { Express } from 'express';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, grantCredits, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';

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
});
