import { createTestEnv, type TestEnv } from '../../test/harness';
import { createShop } from '../../test/factories';
import { disputeRow, jittered, paidPack, purchaseRow, race, raceRounds, release, reservations, rid, ROUNDS, walletChecked } from '../../test/billing-races';
import { openDispute } from './open-dispute';
import { refundCharge, restoreFailedRefund } from './refund-rounds';
import { refundPurchaseByPaymentIntent } from './refund-purchase';

// A refund's events, each delivered twice (Stripe sends an event more than
// once), racing releases of the reservations that held the refunded pack:
// whatever the interleaving, the freed credits pay the refund's shortfall
// (or come back with a failed refund), never stay spendable while owed;
// wallet = ledger and reserved = active reservations; no deadlock. Every
// path locks the shop's wallet before the purchase (docs/credits.md, "Locks").

let env: TestEnv;
beforeAll(async () => {
  // Every racing transaction on a connection of its own.
  env = await createTestEnv({ DATABASE_POOL_SIZE: '10' });
});
afterAll(async () => {
  await env.close();
});

/** A paid pack of 1000 credits, 600 of them held by six reservations. */
async function packHeldByCampaigns() {
  const shop = await createShop(env.db);
  const { sessionId, pi } = await paidPack(env.db, shop.id);
  const held = await reservations(env.db, shop.id, 6, 100);
  return { shopId: shop.id, sessionId, pi, held };
}

const refund = (pi: string) => jittered(env.db, (tx) => refundPurchaseByPaymentIntent(tx, { paymentIntentId: pi, cause: 'refund' }));

async function restoredRows(shopId: string): Promise<number> {
  const [r] = await env.db.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND idempotency_key LIKE '%-restored-%'`;
  return Number(r!.n);
}

it('charge.refunded, delivered twice, racing six releases: the whole pack is taken, nothing freed stays spendable', async () => {
  const failures = await raceRounds(ROUNDS, async () => {
    const { shopId, sessionId, pi, held } = await packHeldByCampaigns();
    await race([refund(pi), refund(pi), ...held.map((id) => release(env.db, id))]);
    return {
      got: { wallet: await walletChecked(env.db, shopId), purchase: await purchaseRow(env.db, sessionId) },
      want: { wallet: { balance: 0, reserved: 0 }, purchase: { status: 'refunded', refund_shortfall: 0 } },
    };
  });
  expect(failures).toEqual([]);
});

it('a refund that failed, its update delivered twice, racing five releases: the whole pack comes back, once', async () => {
  const failures = await raceRounds(ROUNDS, async () => {
    const { shopId, sessionId, pi, held } = await packHeldByCampaigns();
    // 400 taken, 600 owed; one release pays 100 of it before the failure.
    await env.db.$transaction((tx) => refundPurchaseByPaymentIntent(tx, { paymentIntentId: pi, cause: 'refund' }));
    const [first, ...rest] = held;
    await release(env.db, first!);
    const refundId = rid('re');
    const restore = () => jittered(env.db, (tx) => restoreFailedRefund(tx, { refundId, paymentIntentId: pi, failedAt: new Date() }));
    await race([restore(), restore(), ...rest.map((id) => release(env.db, id))]);
    return {
      got: { wallet: await walletChecked(env.db, shopId), purchase: await purchaseRow(env.db, sessionId), restoredRows: await restoredRows(shopId) },
      want: { wallet: { balance: 1000, reserved: 0 }, purchase: { status: 'paid', refund_shortfall: 0 }, restoredRows: 1 },
    };
  });
  expect(failures).toEqual([]);
});

it('a refund and its failure (delivered twice) in any order, racing six releases: the pack is taken and comes back once, or never goes', async () => {
  const failures = await raceRounds(ROUNDS, async () => {
    const { shopId, sessionId, pi, held } = await packHeldByCampaigns();
    const refundId = rid('re');
    // Stripe made the refund, then it failed; the events may be processed in any order.
    const madeAt = new Date(Date.now() - 60_000);
    const failedAt = new Date();
    const refunded = () => jittered(env.db, (tx) => refundCharge(tx, { paymentIntentId: pi, madeAt, stripeEventId: rid('evt'), payload: {} }));
    const restore = () => jittered(env.db, (tx) => restoreFailedRefund(tx, { refundId, paymentIntentId: pi, failedAt }));
    await race([refunded(), restore(), restore(), ...held.map((id) => release(env.db, id))]);
    const [p] = await env.db.$queryRaw<{ failed_refund_ids: string[] }[]>`SELECT failed_refund_ids FROM purchases WHERE stripe_session_id = ${sessionId}`;
    return {
      got: { wallet: await walletChecked(env.db, shopId), purchase: await purchaseRow(env.db, sessionId), restoredRows: await restoredRows(shopId), failed: p!.failed_refund_ids },
      want: { wallet: { balance: 1000, reserved: 0 }, purchase: { status: 'paid', refund_shortfall: 0 }, restoredRows: 1, failed: [refundId] },
    };
  });
  expect(failures).toEqual([]);
});

it('a dispute opened (twice) on a refunded pack, racing six releases: it holds nothing, and the releases still pay the refund', async () => {
  const failures = await raceRounds(ROUNDS, async () => {
    const { shopId, sessionId, pi, held } = await packHeldByCampaigns();
    await env.db.$transaction((tx) => refundPurchaseByPaymentIntent(tx, { paymentIntentId: pi, cause: 'refund' }));
    const disputeId = rid('dp');
    const open = () => jittered(env.db, (tx) => openDispute(tx, { disputeId, paymentIntentId: pi, amount: null }));
    await race([open(), open(), ...held.map((id) => release(env.db, id))]);
    return {
      got: { wallet: await walletChecked(env.db, shopId), purchase: await purchaseRow(env.db, sessionId), dispute: await disputeRow(env.db, disputeId) },
      want: { wallet: { balance: 0, reserved: 0 }, purchase: { status: 'refunded', refund_shortfall: 0 }, dispute: { status: 'open', hold_shortfall: 0 } },
    };
  });
  expect(failures).toEqual([]);
});

it('a refund, its failure and a replay of the refund\'s event, each delivered twice, racing six releases: the pack is taken and comes back once, and stays', async () => {
  const failures = await raceRounds(ROUNDS, async () => {
    const { shopId, sessionId, pi, held } = await packHeldByCampaigns();
    const refundId = rid('re');
    const madeAt = new Date(Date.now() - 60_000);
    const failedAt = new Date();
    // One charge.refunded event (its Stripe id and body), processed however many times an on-call replays it.
    const eventId = rid('evt');
    const refunded = () => jittered(env.db, (tx) => refundCharge(tx, { paymentIntentId: pi, madeAt, stripeEventId: eventId, payload: {} }));
    const restore = () => jittered(env.db, (tx) => restoreFailedRefund(tx, { refundId, paymentIntentId: pi, failedAt }));
    await race([refunded(), refunded(), restore(), restore(), ...held.map((id) => release(env.db, id))]);
    await env.db.$transaction((tx) => refundCharge(tx, { paymentIntentId: pi, madeAt, stripeEventId: eventId, payload: {} }));
    const [p] = await env.db.$queryRaw<{ failed_refund_ids: string[]; refund_keys: string[] }[]>`
      SELECT failed_refund_ids, refund_keys FROM purchases WHERE stripe_session_id = ${sessionId}`;
    return {
      got: { wallet: await walletChecked(env.db, shopId), purchase: await purchaseRow(env.db, sessionId), restoredRows: await restoredRows(shopId), ...p },
      want: { wallet: { balance: 1000, reserved: 0 }, purchase: { status: 'paid', refund_shortfall: 0 }, restoredRows: 1, failed_refund_ids: [refundId], refund_keys: [`event:${eventId}`] },
    };
  });
  expect(failures).toEqual([]);
});
