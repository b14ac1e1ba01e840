import { randomBytes } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { createShop } from '../../test/factories';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { releaseReservation, reserveCredits } from '../credits/reservations';
import { closeDispute } from './close-dispute';
import { openDispute } from './open-dispute';

// A dispute's hold against releases of reservations that held the pack,
// all at once: whatever the interleaving, the freed credits end in the hold
// (or in the claw-back), never spendable, and wallet = ledger, reserved =
// active reservations. No deadlock between the dispute's locks (payment
// intent, dispute, wallet) and a release's (reservation, wallet, SKIP LOCKED
// disputes).

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const id = (p: string) => `${p}_${randomBytes(8).toString('hex')}`;

async function paidPack(shopId: string) {
  const [sessionId, pi] = [id('cs'), id('pi')];
  await env.db.$transaction(async (tx) => {
    await tx.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, stripe_payment_intent_id, pack_id, credits, amount, currency, status, granted_at)
      VALUES (${shopId}::uuid, ${sessionId}, ${pi}, 'starter', 1000, 1000, 'usd', 'paid', now())`;
    await applyWalletChange(tx, { shopId, type: 'purchase', amount: 1000, idempotencyKey: `purchase-${sessionId}` });
  });
  return { sessionId, pi };
}

async function state(shopId: string) {
  const [w] = await env.db.$queryRaw<{ balance: bigint; reserved: bigint; ledger: bigint; active: bigint }[]>`
    SELECT w.balance, w.reserved,
           coalesce((SELECT sum(amount) FROM credit_transactions t WHERE t.shop_id = w.shop_id), 0)::bigint AS ledger,
           coalesce((SELECT sum(amount - consumed - released) FROM credit_reservations r WHERE r.shop_id = w.shop_id AND r.status = 'active'), 0)::bigint AS active
      FROM credit_wallets w WHERE w.shop_id = ${shopId}::uuid`;
  expect(w!.balance).toBe(w!.ledger);
  expect(w!.reserved).toBe(w!.active);
  return { balance: Number(w!.balance), reserved: Number(w!.reserved) };
}

async function campaignReservations(shopId: string, n: number, each: number) {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await env.db.$transaction((tx) => reserveCredits(tx, { shopId, campaignId: null, reservationKey: id('campaign'), amount: each }));
    out.push(r.id);
  }
  return out;
}

const release = (reservationId: string) => env.db.$transaction((tx) => releaseReservation(tx, reservationId));

it('an opening racing ten releases of the pack it disputes: the hold ends with the whole pack', async () => {
  for (let round = 0; round < 3; round++) {
    const shop = await createShop(env.db);
    const { pi } = await paidPack(shop.id);
    const held = await campaignReservations(shop.id, 10, 60);
    const disputeId = id('dp');
    await Promise.all([
      env.db.$transaction((tx) => openDispute(tx, { disputeId, paymentIntentId: pi, amount: null })),
      ...held.map(release),
    ]);
    expect(await state(shop.id)).toEqual({ balance: 1000, reserved: 1000 });
    const [d] = await env.db.$queryRaw<{ hold_shortfall: bigint }[]>`SELECT hold_shortfall FROM stripe_disputes WHERE stripe_dispute_id = ${disputeId}`;
    expect(d!.hold_shortfall).toBe(0n);
  }
});

it('won or lost racing releases: won leaves the pack spendable, lost takes it once', async () => {
  for (const status of ['won', 'lost']) {
    const shop = await createShop(env.db);
    const { pi } = await paidPack(shop.id);
    const held = await campaignReservations(shop.id, 6, 100);
    const disputeId = id('dp');
    await env.db.$transaction((tx) => openDispute(tx, { disputeId, paymentIntentId: pi, amount: null }));
    expect(await state(shop.id)).toEqual({ balance: 1000, reserved: 1000 });
    await Promise.all([
      env.db.$transaction((tx) => closeDispute(tx, { disputeId, paymentIntentId: pi, status, amount: null })),
      env.db.$transaction((tx) => closeDispute(tx, { disputeId, paymentIntentId: pi, status, amount: null })),
      ...held.map(release),
    ]);
    expect(await state(shop.id)).toEqual(status === 'won' ? { balance: 1000, reserved: 0 } : { balance: 0, reserved: 0 });
  }
});
