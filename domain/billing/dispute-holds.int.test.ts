import { createTestEnv, type TestEnv } from '../../test/harness';
import { createShop } from '../../test/factories';
import { disputeRow, jittered, paidPack, purchaseRow, race, raceRounds, release, reservations, rid, ROUNDS, walletChecked } from '../../test/billing-races';
import { closeDispute } from './close-dispute';
import { openDispute } from './open-dispute';

// A dispute's events, each delivered twice (Stripe sends an event more than
// once), racing releases of the reservations that held the disputed pack:
// whatever the interleaving, the freed credits end in the hold (or in the
// claw-back), never spendable; wallet = ledger and reserved = active
// reservations; no deadlock. Every path locks the shop's wallet before the
// purchase and the dispute (docs/credits.md, "Locks").

let env: TestEnv;
beforeAll(async () => {
  // Every racing transaction on a connection of its own.
  env = await createTestEnv({ DATABASE_POOL_SIZE: '10' });
});
afterAll(async () => {
  await env.close();
});

/** A paid pack of 1000 credits, 600 of them held by six reservations, and a dispute id. */
async function packHeldByCampaigns() {
  const shop = await createShop(env.db);
  const { sessionId, pi } = await paidPack(env.db, shop.id);
  const held = await reservations(env.db, shop.id, 6, 100);
  return { shopId: shop.id, sessionId, pi, held, disputeId: rid('dp') };
}

async function holdLeft(shopId: string, disputeId: string): Promise<number | null> {
  const [r] = await env.db.$queryRaw<{ left: bigint }[]>`
    SELECT amount - consumed - released AS left FROM credit_reservations
     WHERE shop_id = ${shopId}::uuid AND reservation_key = ${`dispute-${disputeId}`} AND status = 'active'`;
  return r ? Number(r.left) : null;
}

it('an opening, delivered twice, racing six releases of the pack it disputes: the hold ends with the whole pack', async () => {
  const failures = await raceRounds(ROUNDS, async () => {
    const { shopId, pi, held, disputeId } = await packHeldByCampaigns();
    const open = () => jittered(env.db, (tx) => openDispute(tx, { disputeId, paymentIntentId: pi, amount: null }));
    await race([open(), open(), ...held.map((id) => release(env.db, id))]);
    return {
      got: { wallet: await walletChecked(env.db, shopId), dispute: await disputeRow(env.db, disputeId), hold: await holdLeft(shopId, disputeId) },
      want: { wallet: { balance: 1000, reserved: 1000 }, dispute: { status: 'open', hold_shortfall: 0 }, hold: 1000 },
    };
  });
  expect(failures).toEqual([]);
});

describe.each([
  { status: 'won', wallet: { balance: 1000, reserved: 0 }, purchase: { status: 'paid', refund_shortfall: 0 } },
  { status: 'lost', wallet: { balance: 0, reserved: 0 }, purchase: { status: 'refunded', refund_shortfall: 0 } },
])('closed $status, the closing delivered twice, racing six releases', ({ status, wallet, purchase }) => {
  it(`${status === 'won' ? 'leaves the whole pack spendable' : 'takes the whole pack, once: nothing freed stays spendable'}`, async () => {
    const failures = await raceRounds(ROUNDS, async () => {
      const { shopId, sessionId, pi, held, disputeId } = await packHeldByCampaigns();
      await env.db.$transaction((tx) => openDispute(tx, { disputeId, paymentIntentId: pi, amount: null }));
      // 400 held now, 600 owed to the hold by the reservations.
      const opened = await walletChecked(env.db, shopId);
      if (opened.balance !== 1000 || opened.reserved !== 1000) throw new Error(`opened: ${JSON.stringify(opened)}`);
      const close = () => jittered(env.db, (tx) => closeDispute(tx, { disputeId, paymentIntentId: pi, status, amount: null }));
      await race([close(), close(), ...held.map((id) => release(env.db, id))]);
      return {
        got: { wallet: await walletChecked(env.db, shopId), purchase: await purchaseRow(env.db, sessionId), dispute: await disputeRow(env.db, disputeId) },
        want: { wallet, purchase, dispute: { status, hold_shortfall: 0 } },
      };
    });
    expect(failures).toEqual([]);
  });
});

async function lostRows(shopId: string, disputeId: string): Promise<number> {
  const [r] = await env.db.$queryRaw<{ total: bigint | null }[]>`
    SELECT sum(amount)::bigint AS total FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND idempotency_key LIKE ${`dispute-${disputeId}-lost%`}`;
  return Number(r!.total ?? 0);
}

it('lost for half the price, the closing delivered twice, racing six releases: half the pack goes, once; the other half stays spendable', async () => {
  const failures = await raceRounds(ROUNDS, async () => {
    const { shopId, sessionId, pi, held, disputeId } = await packHeldByCampaigns();
    // 500 disputed: 400 held now, 100 owed to the hold by the reservations.
    await env.db.$transaction((tx) => openDispute(tx, { disputeId, paymentIntentId: pi, amount: 500 }));
    const close = () => jittered(env.db, (tx) => closeDispute(tx, { disputeId, paymentIntentId: pi, status: 'lost', amount: 500 }));
    await race([close(), close(), ...held.map((id) => release(env.db, id))]);
    return {
      got: { wallet: await walletChecked(env.db, shopId), purchase: await purchaseRow(env.db, sessionId), dispute: await disputeRow(env.db, disputeId), lost: await lostRows(shopId, disputeId) },
      want: { wallet: { balance: 500, reserved: 0 }, purchase: { status: 'paid', refund_shortfall: 0 }, dispute: { status: 'lost', hold_shortfall: 0 }, lost: -500 },
    };
  });
  expect(failures).toEqual([]);
});
