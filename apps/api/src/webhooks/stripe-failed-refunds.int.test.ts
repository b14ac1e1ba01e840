import type { Express } from 'express';
import { releaseReservation, reserveCredits } from '../../../../domain/credits/reservations';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, type ShopFixture } from '../../../../test/factories';
import { waitFor } from '../../../../test/sending';
import { chargeObject, disputeObject, postStripe, refundObject, rid, sessionObject, stripeEvent, wallet, webhookEvent } from '../../../../test/webhooks';

// A refund that fails (or is cancelled) after `charge.refunded` took the
// pack's credits: the payment stands, so the credits come back, once per
// refund, with a ledger row; a later refund of the payment takes them again.

describe('charge.refund.updated: a failed refund gives the credits back', () => {
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

  async function deliver(type: string, object: Record<string, unknown>): Promise<string> {
    const event = stripeEvent(type, object);
    expect((await postStripe(app, event)).status).toBe(200);
    let status = '';
    await waitFor(`stripe event ${event.id as string} settled`, async () => {
      status = (await webhookEvent(env.db, 'stripe', event.id as string))?.status ?? '';
      return status !== '' && status !== 'received';
    });
    return status;
  }
  async function pendingPurchase(shop: ShopFixture): Promise<string> {
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    return sessionId;
  }
  async function paidPack(shop: ShopFixture): Promise<{ sessionId: string; pi: string }> {
    const sessionId = await pendingPurchase(shop);
    const pi = rid('pi');
    expect(await deliver('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }))).toBe('processed');
    return { sessionId, pi };
  }
  async function ledger(shopId: string) {
    const rows = await env.db.$queryRaw<{ idempotency_key: string; type: string; amount: bigint }[]>`
      SELECT idempotency_key, type, amount FROM credit_transactions WHERE shop_id = ${shopId}::uuid ORDER BY ledger_seq`;
    return rows.map((r) => [r.idempotency_key, r.type, Number(r.amount)]);
  }
  async function purchase(sessionId: string) {
    const [p] = await env.db.$queryRaw<{ status: string; refund_shortfall: bigint; failed_refund_ids: string[] }[]>`
      SELECT status, refund_shortfall, failed_refund_ids FROM purchases WHERE stripe_session_id = ${sessionId}`;
    return p!;
  }

  it('restores once per refund; other updates change nothing; a later refund takes them again under keys of its own', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const first = rid('re');
    // Pending and succeeded updates of the refund change nothing.
    expect(await deliver('charge.refund.updated', refundObject(pi, 'pending', { id: first }))).toBe('ignored');
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'succeeded', { id: first }))).toBe('ignored');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });

    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: first }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [first] });
    // Stripe updates a failed refund again (its metadata, say): nothing more.
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: first }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });

    // Refunded again, for good this time; the first refund's failure seen again still gives nothing.
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: first }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    // A second refund cancelled: back again, once.
    const second = rid('re');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'canceled', { id: second }))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'canceled', { id: second }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 'purchase', 1000],
      [`refund-${sessionId}`, 'refund', -1000],
      [`purchase-${sessionId}-restored-0`, 'purchase', 1000],
      [`refund-${sessionId}-r1`, 'refund', -1000],
      [`purchase-${sessionId}-restored-1`, 'purchase', 1000],
    ]);
    expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [first, second] });
  });

  it('gives back what the refund took, not what it could not: the shortfall is cleared and a release pays nothing', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const campaign = await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: null, reservationKey: rid('campaign'), amount: 600 }));
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 600, reserved: 600 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', refund_shortfall: 600n });

    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed'))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 600 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'paid', refund_shortfall: 0n });
    await env.db.$transaction((tx) => releaseReservation(tx, campaign.id));
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 'purchase', 1000],
      [`refund-${sessionId}`, 'refund', -400],
      [`purchase-${sessionId}-restored-0`, 'purchase', 400],
    ]);
  });

  it('a refund seen by the completion, then failed: the grant the purchase never had, once', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop);
    const pi = rid('pi');
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('ignored');
    const completed = sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id });
    expect(await deliver('checkout.session.completed', completed)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });

    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed'))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    // The completion again (async success): granted already.
    expect(await deliver('checkout.session.async_payment_succeeded', completed)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([[`purchase-${sessionId}`, 'purchase', 1000]]);
  });

  it('a lost dispute took the credits: a failed refund of the payment restores nothing', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost'))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed'))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', failed_refund_ids: [] });
  });

  it('a failed refund of a payment we hold no purchase for is recorded and ignored', async () => {
    expect(await deliver('charge.refund.updated', refundObject(rid('pi'), 'failed'))).toBe('ignored');
  });
});
