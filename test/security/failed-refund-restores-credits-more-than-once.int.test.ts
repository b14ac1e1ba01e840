import type { Express } from 'express';
import { createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { tableFingerprints } from '../table-fingerprints';
import { chargeObject, disputeObject, postStripe, refundObject, rid, sessionObject, stripeEvent, wallet, stripeEventSettled } from '../webhooks';

// `charge.refund.updated` with status failed/canceled gives a refunded
// pack's credits back. Stripe sends that event for every update of a
// refund (a failed refund whose metadata changes is "updated" again), and
// may send several at once: each must not restore the pack again, or the
// merchant mints credits. Only a signed event counts (a `succeeded` body
// rewritten to `failed` is refused), and a pack a lost dispute took stays
// taken whatever a refund does.

describe('a failed refund restoring credits more than once', () => {
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
  async function deliver(event: Record<string, unknown>): Promise<string> {
    expect((await postStripe(app, event)).status).toBe(200);
    return settled(event.id as string);
  }
  async function refundedPack(shop: ShopFixture): Promise<{ sessionId: string; pi: string }> {
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    const pi = rid('pi');
    expect(await deliver(stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id })))).toBe('processed');
    expect(await deliver(stripeEvent('charge.refunded', chargeObject(pi)))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    return { sessionId, pi };
  }

  it('ten updates of one failed refund, at once and later, restore the pack once', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await refundedPack(shop);
    const refundId = rid('re');
    const updates = Array.from({ length: 10 }, () => stripeEvent('charge.refund.updated', refundObject(pi, 'failed', { id: refundId })));
    await Promise.all(updates.map((e) => postStripe(app, e)));
    for (const e of updates) expect(await settled(e.id as string)).toBe('processed');
    expect(await deliver(stripeEvent('charge.refund.updated', refundObject(pi, 'failed', { id: refundId })))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    const [restored] = await env.db.$queryRaw<{ n: bigint; total: bigint }[]>`
      SELECT count(*) AS n, sum(amount)::bigint AS total FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND idempotency_key LIKE ${`purchase-${sessionId}-restored-%`}`;
    expect(restored).toEqual({ n: 1n, total: 1000n });
  });

  it('one failure told by all three of Stripe\'s events (charge.refund.updated, refund.failed, refund.updated), each several times at once: the pack once', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await refundedPack(shop);
    const refund = refundObject(pi, 'failed', { id: rid('re') });
    const events = ['charge.refund.updated', 'refund.failed', 'refund.updated'].flatMap((type) => Array.from({ length: 4 }, () => stripeEvent(type, refund)));
    await Promise.all(events.map((e) => postStripe(app, e)));
    for (const e of events) expect(await settled(e.id as string)).toBe('processed');
    expect(await deliver(stripeEvent('refund.failed', refund))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    const [restored] = await env.db.$queryRaw<{ n: bigint; total: bigint }[]>`
      SELECT count(*) AS n, sum(amount)::bigint AS total FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND idempotency_key LIKE ${`purchase-${sessionId}-restored-%`}`;
    expect(restored).toEqual({ n: 1n, total: 1000n });
  });

  it('a refund update Stripe did not sign as failed restores nothing and is not stored', async () => {
    const shop = await createShop(env.db);
    const { pi } = await refundedPack(shop);
    const before = await tableFingerprints(env.db);
    const failed = JSON.stringify(stripeEvent('charge.refund.updated', refundObject(pi, 'failed')));
    expect((await postStripe(app, failed, { secret: 'whsec_attacker' })).status).toBe(401);
    expect((await postStripe(app, failed, { header: null })).status).toBe(401);
    const succeeded = JSON.stringify(stripeEvent('charge.refund.updated', refundObject(pi, 'succeeded')));
    const signed = (await import('stripe')).default.webhooks.generateTestHeaderString({ payload: succeeded, secret: process.env.STRIPE_WEBHOOK_SECRET! });
    expect((await postStripe(app, succeeded.replace('"succeeded"', '"failed"'), { header: signed })).status).toBe(401);
    expect(await tableFingerprints(env.db)).toEqual(before);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
  });

  it('a pack a lost dispute took stays taken when a refund of the payment fails', async () => {
    const shop = await createShop(env.db);
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    const pi = rid('pi');
    expect(await deliver(stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id })))).toBe('processed');
    expect(await deliver(stripeEvent('charge.dispute.closed', disputeObject(pi, 'lost')))).toBe('processed');
    expect(await deliver(stripeEvent('charge.refund.updated', refundObject(pi, 'failed')))).toBe('processed');
    expect(await deliver(stripeEvent('charge.refund.updated', refundObject(pi, 'canceled')))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
  });
});
