import type { Express } from 'express';
import request from 'supertest';
import { releaseReservation, reserveCredits } from '../../../../domain/credits/reservations';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { chargeObject, disputeObject, postStripe, refundObject, rid, sessionObject, stripeEvent, wallet, stripeEventSettled } from '../../../../test/webhooks';

// A dispute holds the disputed pack's credits from its opening to its
// closing: won gives them back, lost takes them (once, out of the hold),
// whatever order and however often Stripe's events come.

describe('Stripe disputes hold the disputed credits', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env.close();
  });

  const settled = (eventId: string): Promise<string> => stripeEventSettled(env.db, eventId);
  async function deliver(type: string, object: Record<string, unknown>): Promise<string> {
    const event = stripeEvent(type, object);
    expect((await postStripe(app, event)).status).toBe(200);
    return settled(event.id as string);
  }
  /** A pack whose checkout is open (its completion not yet processed): its session and the payment intent it will name. */
  async function openPurchase(shop: ShopFixture, credits = 1000, price = 1000): Promise<{ sessionId: string; pi: string }> {
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', ${credits}::int, ${price}::int, 'usd')`;
    return { sessionId, pi: rid('pi') };
  }
  /** A pack bought and paid through Stripe: its session and payment intent. */
  async function paidPack(shop: ShopFixture, credits = 1000, price = 1000): Promise<{ sessionId: string; pi: string }> {
    const { sessionId, pi } = await openPurchase(shop, credits, price);
    expect(await deliver('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }))).toBe('processed');
    return { sessionId, pi };
  }
  async function apiWallet(shop: ShopFixture) {
    const res = await request(app).get('/api/wallet').set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
    expect(res.status).toBe(200);
    return res.body as Record<string, number>;
  }
  async function ledger(shopId: string) {
    const rows = await env.db.$queryRaw<{ idempotency_key: string; amount: bigint }[]>`
      SELECT idempotency_key, amount FROM credit_transactions WHERE shop_id = ${shopId}::uuid ORDER BY ledger_seq`;
    return rows.map((r) => [r.idempotency_key, Number(r.amount)]);
  }
  /** balance = Σ ledger and reserved = Σ active reservations, as reconciliation checks. */
  async function consistent(shopId: string) {
    const [row] = await env.db.$queryRaw<{ ok: boolean }[]>`
      SELECT w.balance = coalesce((SELECT sum(amount) FROM credit_transactions t WHERE t.shop_id = w.shop_id), 0)
         AND w.reserved = coalesce((SELECT sum(amount - consumed - released) FROM credit_reservations r WHERE r.shop_id = w.shop_id AND r.status = 'active'), 0) AS ok
        FROM credit_wallets w WHERE w.shop_id = ${shopId}::uuid`;
    return row?.ok;
  }
  const reserve = (shopId: string, amount: number) =>
    env.db.$transaction((tx) => reserveCredits(tx, { shopId, campaignId: null, reservationKey: rid('campaign'), amount }));
  async function dispute(id: string) {
    const [d] = await env.db.$queryRaw<{ status: string; hold_shortfall: bigint; shop_id: string | null }[]>`
      SELECT status, hold_shortfall, shop_id FROM stripe_disputes WHERE stripe_dispute_id = ${id}`;
    return d ? { status: d.status, holdShortfall: Number(d.hold_shortfall), shopId: d.shop_id } : undefined;
  }

  it('an opened dispute holds the pack: nothing of it can be reserved; repeated openings hold once; won gives it back', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const id = rid('dp');

    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });
    expect(await apiWallet(shop)).toEqual({ balance: 1000, reserved: 1000, available: 0, held: 1000 });
    await expect(reserve(shop.id, 1)).rejects.toMatchObject({ code: 'INSUFFICIENT_CREDITS' });

    // The same dispute again: created under another event id, and its funds withdrawn.
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await deliver('charge.dispute.funds_withdrawn', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });

    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'won', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await apiWallet(shop)).toEqual({ balance: 1000, reserved: 0, available: 1000 });
    expect(await dispute(id)).toEqual({ status: 'won', holdShortfall: 0, shopId: shop.id });
    // A late opening of the closed dispute holds nothing; a second won changes nothing.
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'won', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    // A hold moves no balance: the ledger is the purchase alone.
    expect(await ledger(shop.id)).toEqual([[`purchase-${sessionId}`, 1000]]);
    expect(await consistent(shop.id)).toBe(true);
  });

  it('lost takes the held credits once, out of the hold; a repeat or a refund of the payment takes nothing more', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const id = rid('dp');
    expect(await deliver('charge.dispute.funds_withdrawn', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });

    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id }))).toBe('processed');
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`refund-${sessionId}`, -1000],
    ]);
    const [hold] = await env.db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint; status: string }[]>`
      SELECT amount, consumed, released, status FROM credit_reservations WHERE shop_id = ${shop.id}::uuid AND reservation_key = ${`dispute-${id}`}`;
    expect(hold).toEqual({ amount: 1000n, consumed: 1000n, released: 0n, status: 'closed' });
    expect(await dispute(id)).toMatchObject({ status: 'lost', holdShortfall: 0 });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('credits a campaign held when the dispute opened fill the hold when released, not the merchant; lost then takes the pack once', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const campaign = await reserve(shop.id, 600);
    const id = rid('dp');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    // Only what was available is held; the rest is owed to the hold.
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });
    expect(await apiWallet(shop)).toMatchObject({ available: 0, held: 400 });
    expect(await dispute(id)).toMatchObject({ status: 'open', holdShortfall: 600 });

    // The campaign gives its credits back (cancelled): they go into the hold.
    expect(await env.db.$transaction((tx) => releaseReservation(tx, campaign.id))).toBe(600);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });
    expect(await apiWallet(shop)).toEqual({ balance: 1000, reserved: 1000, available: 0, held: 1000 });
    expect(await dispute(id)).toMatchObject({ holdShortfall: 0 });
    expect(await consistent(shop.id)).toBe(true);

    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`refund-${sessionId}`, -1000],
    ]);
    const [p] = await env.db.$queryRaw<{ status: string; refund_shortfall: bigint; refund_cause: string }[]>`
      SELECT status, refund_shortfall, refund_cause FROM purchases WHERE stripe_session_id = ${sessionId}`;
    expect(p).toEqual({ status: 'refunded', refund_shortfall: 0n, refund_cause: 'dispute' });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('lost while a campaign still holds part of the pack: the hold and the available credits go, the rest is the refund shortfall its release pays', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const campaign = await reserve(shop.id, 600);
    const id = rid('dp');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 600, reserved: 600 });
    expect(await dispute(id)).toMatchObject({ status: 'lost', holdShortfall: 0 });
    expect(await env.db.$transaction((tx) => releaseReservation(tx, campaign.id))).toBe(600);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`refund-${sessionId}`, -400],
      [`refund-${sessionId}-rest-600`, -600],
    ]);
    expect(await consistent(shop.id)).toBe(true);
  });

  it('won after the hold was filled gives every held credit back; credits bought after the dispute owe its hold nothing', async () => {
    const shop = await createShop(env.db);
    const { pi } = await paidPack(shop);
    const early = await reserve(shop.id, 300);
    const id = rid('dp');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    expect(await dispute(id)).toMatchObject({ holdShortfall: 300 });
    // Bought after the dispute opened, reserved and released: the merchant's own.
    await paidPack(shop, 500, 500);
    const late = await reserve(shop.id, 500);
    await env.db.$transaction((tx) => releaseReservation(tx, late.id));
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1500, reserved: 1000 });
    expect(await dispute(id)).toMatchObject({ holdShortfall: 300 });
    await env.db.$transaction((tx) => releaseReservation(tx, early.id));
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1500, reserved: 1000 });
    expect(await dispute(id)).toMatchObject({ holdShortfall: 0 });

    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'warning_closed', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1500, reserved: 0 });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('closed before it was opened: won or lost first, the late opening holds nothing', async () => {
    const shop = await createShop(env.db);
    const won = await paidPack(shop);
    const lost = await paidPack(shop, 500, 500);
    const [wonId, lostId] = [rid('dp'), rid('dp')];
    expect(await deliver('charge.dispute.closed', disputeObject(won.pi, 'won', { id: wonId }))).toBe('processed');
    expect(await deliver('charge.dispute.closed', disputeObject(lost.pi, 'lost', { id: lostId, amount: 500 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await deliver('charge.dispute.created', disputeObject(won.pi, 'needs_response', { id: wonId }))).toBe('processed');
    expect(await deliver('charge.dispute.created', disputeObject(lost.pi, 'needs_response', { id: lostId, amount: 500 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await dispute(wonId)).toMatchObject({ status: 'won' });
    expect(await dispute(lostId)).toMatchObject({ status: 'lost' });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('opened before the completion was processed: the completion holds what it grants', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await openPurchase(shop);
    const id = rid('dp');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('ignored');
    expect(await deliver('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });
    expect(await dispute(id)).toMatchObject({ status: 'open', shopId: shop.id });
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'won', { id }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
  });

  it('a dispute of part of the price holds that share of the pack, rounded up', async () => {
    const shop = await createShop(env.db);
    const { pi } = await paidPack(shop, 1000, 3000);
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { amount: 1000 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 334 });
  });

  async function purchaseStatus(sessionId: string) {
    const [p] = await env.db.$queryRaw<{ status: string; refund_shortfall: bigint }[]>`
      SELECT status, refund_shortfall FROM purchases WHERE stripe_session_id = ${sessionId}`;
    return p;
  }
  async function holdRow(shopId: string, disputeId: string) {
    const [hold] = await env.db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint; status: string }[]>`
      SELECT amount, consumed, released, status FROM credit_reservations WHERE shop_id = ${shopId}::uuid AND reservation_key = ${`dispute-${disputeId}`}`;
    return hold;
  }

  it('lost for part of the price takes that share of the pack (what the hold covers) once, out of the hold; the rest stays spendable', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop, 1000, 3000);
    const id = rid('dp');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id, amount: 1000 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 334 });

    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 1000 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 666, reserved: 0 });
    // The closing again, and a late opening: nothing more.
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 1000 }))).toBe('processed');
    expect(await deliver('charge.dispute.funds_withdrawn', disputeObject(pi, 'needs_response', { id, amount: 1000 }))).toBe('processed');
    expect(await apiWallet(shop)).toEqual({ balance: 666, reserved: 0, available: 666 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`dispute-${id}-lost`, -334],
    ]);
    expect(await holdRow(shop.id, id)).toEqual({ amount: 334n, consumed: 334n, released: 0n, status: 'closed' });
    // The undisputed part of the pack is still paid for, and spendable.
    expect(await purchaseStatus(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n });
    await reserve(shop.id, 666);
    expect(await dispute(id)).toMatchObject({ status: 'lost', holdShortfall: 0 });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('lost for part of a pack campaigns held: the hold goes, the rest of the share is owed and the campaign pays it when released, not more', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const campaign = await reserve(shop.id, 900);
    const id = rid('dp');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id, amount: 300 }))).toBe('processed');
    expect(await dispute(id)).toMatchObject({ status: 'open', holdShortfall: 200 });
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });

    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 300 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 900, reserved: 900 });
    expect(await env.db.$transaction((tx) => releaseReservation(tx, campaign.id))).toBe(900);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 700, reserved: 0 });
    // A second release of the same reservation, and the closing again: nothing more.
    expect(await env.db.$transaction((tx) => releaseReservation(tx, campaign.id))).toBe(0);
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 300 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 700, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`dispute-${id}-lost`, -100],
      [`dispute-${id}-lost-rest-200`, -200],
    ]);
    expect(await purchaseStatus(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('a pack partly refunded (its credits kept), then disputed for the rest and lost: the disputed share goes, once', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    expect(await deliver('charge.refunded', { ...chargeObject(pi, { refunded: false }), amount_refunded: 300 })).toBe('ignored');
    const id = rid('dp');
    // Closed with no opening seen: nothing was held, the share comes from what is available.
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 700 }))).toBe('processed');
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 700 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 300, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`dispute-${id}-lost`, -700],
    ]);
    expect(await consistent(shop.id)).toBe(true);
  });

  it('a full refund after a partial loss takes the rest of the pack, not the share again; its failure gives back only the rest', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const id = rid('dp');
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 400 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 600, reserved: 0 });
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed'))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 600, reserved: 0 });
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 400 }))).toBe('processed');
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`dispute-${id}-lost`, -400],
      [`refund-${sessionId}`, -600],
      [`purchase-${sessionId}-restored-0`, 600],
    ]);
    expect(await purchaseStatus(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('lost for part of the price while a refund had the pack: nothing more then; the refund failing brings the pack back and the share goes, once', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const id = rid('dp');
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 300 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    const refundId = rid('re');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: refundId }))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: refundId }))).toBe('processed');
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 300 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 700, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`refund-${sessionId}`, -1000],
      [`purchase-${sessionId}-restored-0`, 1000],
      [`dispute-${id}-lost`, -300],
    ]);
    expect(await consistent(shop.id)).toBe(true);
  });

  it('lost for part of the price before the completion was processed: the completion grants the pack and the loss takes its share', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await openPurchase(shop);
    const id = rid('dp');
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost', { id, amount: 250 }))).toBe('ignored');
    const completed = sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id });
    expect(await deliver('checkout.session.completed', completed)).toBe('processed');
    expect(await deliver('checkout.session.async_payment_succeeded', completed)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 750, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 1000],
      [`dispute-${id}-lost`, -250],
    ]);
    expect(await purchaseStatus(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n });
    expect(await consistent(shop.id)).toBe(true);
  });

  it('the on-call cannot release a dispute hold by hand', async () => {
    const shop = await createShop(env.db);
    const { pi } = await paidPack(shop);
    const id = rid('dp');
    expect(await deliver('charge.dispute.created', disputeObject(pi, 'needs_response', { id }))).toBe('processed');
    const [hold] = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM credit_reservations WHERE shop_id = ${shop.id}::uuid AND reservation_key = ${`dispute-${id}`}`;
    const { releaseReservationByHand } = await import('../../../../domain/ops/release-reservation-by-hand');
    await expect(releaseReservationByHand(env.db, hold!.id)).rejects.toMatchObject({ code: 'INVALID_STATE', details: { disputeId: id } });
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });
  });
});
