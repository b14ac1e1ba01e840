import type { Express } from 'express';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, type ShopFixture } from '../../../../test/factories';
import { waitFor } from '../../../../test/sending';
import { chargeObject, ledgerRows, postStripe, purchaseState, refundObject, rid, sessionObject, stripeEvent, wallet, webhookEvent } from '../../../../test/webhooks';

// Stripe sends `charge.refund.updated` only for some payment methods;
// `refund.failed` and `refund.updated` (the Refund itself as data.object)
// come for every refund. A failure learnt from any of them gives the pack
// back, once per refund, whatever the mix and order of the three events of
// one refund (each under an event id of its own).

describe('refund.failed and refund.updated: a failed refund gives the credits back, once per refund whichever event says so', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    app = (await env.api()).app;
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env.close();
  });

  /** Stripe's event, made `secondsAgo` before now (its `created`). */
  const made = (type: string, object: Record<string, unknown>, secondsAgo = 0) => ({ ...stripeEvent(type, object), created: Math.floor(Date.now() / 1000) - secondsAgo });

  async function deliverEvent(event: Record<string, unknown>): Promise<string> {
    expect((await postStripe(app, event)).status).toBe(200);
    let status = '';
    await waitFor(`stripe event ${event.id as string} settled`, async () => {
      status = (await webhookEvent(env.db, 'stripe', event.id as string))?.status ?? '';
      return status !== '' && status !== 'received';
    });
    return status;
  }
  const deliver = (type: string, object: Record<string, unknown>) => deliverEvent(made(type, object));

  async function paidPack(shop: ShopFixture): Promise<{ sessionId: string; pi: string }> {
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    const pi = rid('pi');
    expect(await deliver('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }))).toBe('processed');
    return { sessionId, pi };
  }
  const ledger = (shopId: string) => ledgerRows(env.db, shopId);
  const purchase = (sessionId: string) => purchaseState(env.db, sessionId);
  async function failures(pi: string) {
    return env.db.$queryRaw<{ stripe_refund_id: string; status: string }[]>`
      SELECT stripe_refund_id, status FROM stripe_refund_failures WHERE stripe_payment_intent_id = ${pi} ORDER BY stripe_refund_id`;
  }
  /** The ledger of one purchase refunded once and restored once. */
  const restoredOnce = (sessionId: string) => [
    [`purchase-${sessionId}`, 'purchase', 1000],
    [`refund-${sessionId}`, 'refund', -1000],
    [`purchase-${sessionId}-restored-0`, 'purchase', 1000],
  ];

  it('refund.failed alone (no charge.refund.updated, as for cards) restores the pack its charge.refunded took', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const refundId = rid('re');
    const now = Math.floor(Date.now() / 1000);
    expect(await deliverEvent(made('charge.refunded', chargeObject(pi, { refunds: [refundId] }), 60))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });

    expect(await deliver('refund.failed', refundObject(pi, 'failed', { id: refundId, created: now - 60 }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [refundId] });
    expect(await ledger(shop.id)).toEqual(restoredOnce(sessionId));
    expect(await failures(pi)).toEqual([{ stripe_refund_id: refundId, status: 'restored' }]);
  });

  it('refund.updated with status failed (or canceled) restores; its other updates and refund.created are stored and ignored', async () => {
    for (const status of ['failed', 'canceled']) {
      const shop = await createShop(env.db);
      const { sessionId, pi } = await paidPack(shop);
      const refundId = rid('re');
      expect(await deliver('refund.created', refundObject(pi, 'pending', { id: refundId }))).toBe('ignored');
      expect(await deliver('refund.updated', refundObject(pi, 'pending', { id: refundId }))).toBe('ignored');
      expect(await deliver('charge.refunded', chargeObject(pi, { refunds: [refundId] }))).toBe('processed');
      expect(await deliver('refund.updated', refundObject(pi, 'succeeded', { id: refundId }))).toBe('ignored');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
      expect(await failures(pi)).toEqual([]);

      expect(await deliver('refund.updated', refundObject(pi, status, { id: refundId }))).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
      expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [refundId] });
      expect(await ledger(shop.id)).toEqual(restoredOnce(sessionId));
    }
  });

  it('charge.refund.updated and refund.failed (and refund.updated) of the same refund, in either order: restored once', async () => {
    const orders = [
      ['charge.refund.updated', 'refund.failed'],
      ['refund.failed', 'charge.refund.updated'],
      ['refund.updated', 'refund.failed', 'charge.refund.updated'],
      ['refund.failed', 'refund.updated', 'charge.refund.updated'],
    ];
    for (const order of orders) {
      const shop = await createShop(env.db);
      const { sessionId, pi } = await paidPack(shop);
      const refundId = rid('re');
      const refund = refundObject(pi, 'failed', { id: refundId });
      expect(await deliverEvent(made('charge.refunded', chargeObject(pi), 30))).toBe('processed');
      for (const type of order) expect(await deliver(type, refund)).toBe('processed');
      expect({ order, wallet: await wallet(env.db, shop.id) }).toEqual({ order, wallet: { balance: 1000, reserved: 0 } });
      expect(await ledger(shop.id)).toEqual(restoredOnce(sessionId));
      expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [refundId] });
      expect(await failures(pi)).toEqual([{ stripe_refund_id: refundId, status: 'restored' }]);

      // A later refund of the payment is a refund of its own: taken, under the next round's key; the old failure's events again give nothing.
      expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
      for (const type of order) expect(await deliver(type, refund)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
      expect(await ledger(shop.id)).toEqual([...restoredOnce(sessionId), [`refund-${sessionId}-r1`, 'refund', -1000]]);
    }
  });

  it('refund.failed processed before its charge.refunded waits, and the refund gives the pack back at once; charge.refund.updated after it changes nothing', async () => {
    for (const listed of [false, true]) {
      const shop = await createShop(env.db);
      const { sessionId, pi } = await paidPack(shop);
      const refundId = rid('re');
      const now = Math.floor(Date.now() / 1000);
      // Stripe made the refund, then its failure; the failure is processed first.
      const refunded = { ...stripeEvent('charge.refunded', chargeObject(pi, listed ? { refunds: [refundId] } : {})), created: now - 60 };
      const refund = refundObject(pi, 'failed', { id: refundId, created: now - 60 });
      expect(await deliver('refund.failed', refund)).toBe('processed');
      expect(await failures(pi)).toEqual([{ stripe_refund_id: refundId, status: 'waiting' }]);
      expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [] });

      expect(await deliverEvent(refunded)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
      expect(await failures(pi)).toEqual([{ stripe_refund_id: refundId, status: 'restored' }]);
      // The same failure from the other two events, and the refund sent again: nothing more.
      expect(await deliver('charge.refund.updated', refund)).toBe('processed');
      expect(await deliver('refund.updated', refund)).toBe('processed');
      expect(await deliverEvent(refunded)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
      expect(await ledger(shop.id)).toEqual(restoredOnce(sessionId));
      expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [refundId] });
    }
  });

  it('charge.refund.updated and refund.failed of one failure posted at once (with refund.updated, and with the refund itself): restored once, every round', async () => {
    for (let round = 0; round < 8; round++) {
      const shop = await createShop(env.db);
      const { sessionId, pi } = await paidPack(shop);
      const refundId = rid('re');
      const now = Math.floor(Date.now() / 1000);
      const refunded = { ...stripeEvent('charge.refunded', chargeObject(pi, round % 2 === 0 ? {} : { refunds: [refundId] })), created: now - 30 };
      const refund = refundObject(pi, 'failed', { id: refundId, created: now - 30 });
      const failureEvents = [made('charge.refund.updated', refund), made('refund.failed', refund)];
      if (round % 4 >= 2) failureEvents.push(made('refund.updated', refund));
      // Rounds 0-3: the refund processed first, then its failure's events at once; rounds 4-7: all at once.
      const atOnce = round < 4 ? failureEvents : [refunded, ...failureEvents];
      if (round < 4) expect(await deliverEvent(refunded)).toBe('processed');
      expect(await Promise.all(atOnce.map((e) => deliverEvent(e)))).toEqual(atOnce.map(() => 'processed'));
      expect({ round, wallet: await wallet(env.db, shop.id) }).toEqual({ round, wallet: { balance: 1000, reserved: 0 } });
      expect(await ledger(shop.id)).toEqual(restoredOnce(sessionId));
      expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [refundId] });
    }
  }, 120_000);
});
