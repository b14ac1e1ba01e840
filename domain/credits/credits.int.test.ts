import { createTestEnv, type TestEnv } from '../../test/harness';
import { createCampaign, createShop } from '../../test/factories';
import { AppError } from '../../lib/errors';
import { applyWalletChange } from './apply-wallet-change';
import { consumeReservation, releaseReservation, reserveCredits } from './reservations';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

async function wallet(shopId: string) {
  const [w] = await env.db.$queryRaw<{ balance: bigint; reserved: bigint; ledger: bigint | null; active: bigint | null }[]>`
    SELECT w.balance, w.reserved,
           (SELECT sum(amount) FROM credit_transactions t WHERE t.shop_id = w.shop_id) AS ledger,
           (SELECT sum(amount - consumed - released) FROM credit_reservations r WHERE r.shop_id = w.shop_id AND r.status = 'active') AS active
      FROM credit_wallets w WHERE w.shop_id = ${shopId}::uuid`;
  return { balance: Number(w!.balance), reserved: Number(w!.reserved), ledger: Number(w!.ledger ?? 0), active: Number(w!.active ?? 0) };
}

describe('applyWalletChange', () => {
  it('writes a ledger row with the balance after, and a replayed key changes nothing', async () => {
    const shop = await createShop(env.db);
    const first = await env.db.$transaction((tx) => applyWalletChange(tx, { shopId: shop.id, type: 'purchase', amount: 1000, idempotencyKey: 'purchase-cs_1' }));
    const again = await env.db.$transaction((tx) => applyWalletChange(tx, { shopId: shop.id, type: 'purchase', amount: 1000, idempotencyKey: 'purchase-cs_1' }));
    expect(first).toEqual({ applied: true, balance: 1000, reserved: 0 });
    expect(again).toEqual({ applied: false, balance: 1000, reserved: 0 });
    const rows = await env.db.$queryRaw<{ amount: bigint; balance_after: bigint }[]>`SELECT amount, balance_after FROM credit_transactions WHERE shop_id = ${shop.id}::uuid`;
    expect(rows).toEqual([{ amount: 1000n, balance_after: 1000n }]);
  });

  it('keeps wallet = Σ ledger under 40 concurrent changes with 20 distinct keys', async () => {
    const shop = await createShop(env.db, { credits: 500 });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        env.db.$transaction((tx) => applyWalletChange(tx, { shopId: shop.id, type: i % 2 ? 'grant' : 'debit', amount: i % 2 ? 7 : -3, idempotencyKey: `k-${i % 20}` })),
      ),
    );
    const w = await wallet(shop.id);
    expect(w.balance).toBe(w.ledger);
    expect(w.balance).toBe(500 + 10 * 7 - 10 * 3);
  });

  it('refuses to take the balance below zero or below what is reserved, and rolls back', async () => {
    const shop = await createShop(env.db, { credits: 10 });
    await expect(env.db.$transaction((tx) => applyWalletChange(tx, { shopId: shop.id, type: 'debit', amount: -11, idempotencyKey: 'too-much' }))).rejects.toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    const c = await createCampaign(env.db, shop.id);
    await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: c.id, reservationKey: 'r', amount: 8 }));
    await expect(env.db.$transaction((tx) => applyWalletChange(tx, { shopId: shop.id, type: 'refund', amount: -5, idempotencyKey: 'refund' }))).rejects.toBeInstanceOf(AppError);
    expect(await wallet(shop.id)).toEqual({ balance: 10, reserved: 8, ledger: 10, active: 8 });
  });
});

describe('reservations', () => {
  it('reserves only what is available; concurrent reservations never over-commit', async () => {
    const shop = await createShop(env.db, { credits: 100 });
    const campaigns = await Promise.all(Array.from({ length: 6 }, () => createCampaign(env.db, shop.id)));
    const results = await Promise.allSettled(
      campaigns.map((c) => env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: c.id, reservationKey: `campaign-${c.id}`, amount: 30 }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'INSUFFICIENT_CREDITS', details: { needed: 30, available: 10 } });
    expect(await wallet(shop.id)).toEqual({ balance: 100, reserved: 90, ledger: 100, active: 90 });
  });

  it('consumes, debits and releases so that reserved always equals the active remainder', async () => {
    const shop = await createShop(env.db, { credits: 100 });
    const c = await createCampaign(env.db, shop.id);
    const r = await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: c.id, reservationKey: 'res', amount: 40 }));
    await env.db.$transaction(async (tx) => {
      const taken = await consumeReservation(tx, r.id, 25);
      expect(taken).toBe(25);
      await applyWalletChange(tx, { shopId: shop.id, type: 'debit', amount: -25, idempotencyKey: 'debit-1', reservedDelta: -taken });
    });
    expect(await wallet(shop.id)).toEqual({ balance: 75, reserved: 15, ledger: 75, active: 15 });
    // Beyond the reservation: only the remainder comes from it.
    await env.db.$transaction(async (tx) => {
      const taken = await consumeReservation(tx, r.id, 20);
      expect(taken).toBe(15);
      await applyWalletChange(tx, { shopId: shop.id, type: 'debit', amount: -20, idempotencyKey: 'debit-2', reservedDelta: -taken });
    });
    expect(await wallet(shop.id)).toEqual({ balance: 55, reserved: 0, ledger: 55, active: 0 });
    expect(await env.db.$transaction((tx) => releaseReservation(tx, r.id))).toBe(0);
  });

  it('releasing is idempotent and gives back exactly the unused part', async () => {
    const shop = await createShop(env.db, { credits: 50 });
    const c = await createCampaign(env.db, shop.id);
    const r = await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: c.id, reservationKey: 'rel', amount: 50 }));
    await env.db.$transaction(async (tx) => {
      const taken = await consumeReservation(tx, r.id, 10);
      await applyWalletChange(tx, { shopId: shop.id, type: 'debit', amount: -10, idempotencyKey: 'd', reservedDelta: -taken });
    });
    const releases = await Promise.all([1, 2, 3].map(() => env.db.$transaction((tx) => releaseReservation(tx, r.id))));
    expect(releases.sort()).toEqual([0, 0, 40]);
    expect(await wallet(shop.id)).toEqual({ balance: 40, reserved: 0, ledger: 40, active: 0 });
  });
});
