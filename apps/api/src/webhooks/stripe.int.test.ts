import type { Express } from 'express';
import { reserveCredits } from '../../../../domain/credits/reservations';
import { pruneFinishedWebhookEvents } from '../../../../domain/reconciliation/prune-finished-rows';
import { replayWebhookEvent } from '../../../../domain/webhooks/replay-event';
import { requeueStuckWebhookEvents } from '../../../../domain/webhooks/requeue-stuck-events';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop } from '../../../../test/factories';
import { tableFingerprints } from '../../../../test/table-fingerprints';
import {
  chargeObject,
  counterValue,
  disputeObject,
  postStripe,
  rid,
  sessionObject,
  stripeEvent,
  stripeEventSettled,
  wallet,
  webhookEvent,
} from '../../../../test/webhooks';
import type { ApiDeps } from '../deps';
import type { WorkerDeps } from '../../../worker/src/deps';

describe('POST /webhooks/stripe', () => {
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps: api } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks'] }));
  });
  afterAll(async () => {
    await env.close();
  });

  async function pendingPurchase(shopId: string, credits = 1000): Promise<string> {
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shopId}::uuid, ${sessionId}, 'starter', ${credits}::int, 1000, 'usd')`;
    return sessionId;
  }

  const settled = (eventId: string): Promise<string> => stripeEventSettled(env.db, eventId);

  async function purchase(sessionId: string) {
    const [p] = await env.db.$queryRaw<{ status: string; refund_shortfall: bigint; granted_at: Date | null; stripe_payment_intent_id: string | null }[]>`
      SELECT status, refund_shortfall, granted_at, stripe_payment_intent_id FROM purchases WHERE stripe_session_id = ${sessionId}`;
    return p!;
  }

  async function ledgerKeys(shopId: string): Promise<string[]> {
    const rows = await env.db.$queryRaw<{ idempotency_key: string }[]>`
      SELECT idempotency_key FROM credit_transactions WHERE shop_id = ${shopId}::uuid ORDER BY created_at`;
    return rows.map((r) => r.idempotency_key);
  }

  it('grants credits once for 50 concurrent deliveries of one completed session; a later replay is a duplicate', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 1000);
    const event = stripeEvent('checkout.session.completed', sessionObject(sessionId, { shopId: shop.id }));
    const body = JSON.stringify(event);

    const receivedBefore = await counterValue(api.metrics, 'webhookEvents', { source: 'stripe', outcome: 'received' });
    const responses = await Promise.all(Array.from({ length: 50 }, () => postStripe(app, body)));
    expect((await counterValue(api.metrics, 'webhookEvents', { source: 'stripe', outcome: 'received' })) - receivedBefore).toBe(1);
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(responses.filter((r) => r.body.received === true)).toHaveLength(1);
    expect(responses.filter((r) => r.body.duplicate === true)).toHaveLength(49);

    expect(await settled(event.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledgerKeys(shop.id)).toEqual([`purchase-${sessionId}`]);
    expect((await purchase(sessionId)).status).toBe('paid');
    const row = await webhookEvent(env.db, 'stripe', event.id as string);
    expect(row).toMatchObject({ shop_id: shop.id, attempts: 1 });
    expect(row!.processed_at).toBeInstanceOf(Date);

    const replay = await postStripe(app, body);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ duplicate: true });
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await counterValue(api.metrics, 'webhookEvents', { source: 'stripe', outcome: 'duplicate' })).toBeGreaterThanOrEqual(50);
    expect(await counterValue(worker.metrics, 'webhookEvents', { source: 'stripe', outcome: 'processed' })).toBeGreaterThanOrEqual(1);
  });

  it('async payment success before completion grants once', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 500);
    const pi = rid('pi');
    const asyncOk = stripeEvent('checkout.session.async_payment_succeeded', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    const completed = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    expect((await postStripe(app, asyncOk)).status).toBe(200);
    expect(await settled(asyncOk.id as string)).toBe('processed');
    expect((await postStripe(app, completed)).status).toBe(200);
    expect(await settled(completed.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 500, reserved: 0 });
    expect(await ledgerKeys(shop.id)).toEqual([`purchase-${sessionId}`]);
  });

  it('a completed session that has not been paid yet grants nothing', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id);
    const unpaid = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentStatus: 'unpaid', shopId: shop.id }));
    await postStripe(app, unpaid);
    expect(await settled(unpaid.id as string)).toBe('ignored');
    expect((await purchase(sessionId)).status).toBe('pending');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
  });

  it('refund before completion nets to zero and never leaves a negative available balance', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 1000);
    const pi = rid('pi');
    const refund = stripeEvent('charge.refunded', chargeObject(pi));
    await postStripe(app, refund);
    expect(await settled(refund.id as string)).toBe('ignored');

    const completed = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    await postStripe(app, completed);
    expect(await settled(completed.id as string)).toBe('processed');

    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledgerKeys(shop.id)).toEqual([]);
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', granted_at: null, stripe_payment_intent_id: pi });

    // The refund replayed by hand now finds the purchase: still nothing to take.
    expect(await replayWebhookEvent(worker, (await webhookEvent(env.db, 'stripe', refund.id as string))!.id)).toBe('requeued');
    expect(await settled(refund.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
  });

  it('a refund seen before a completion that failed is still seen when the completion is replayed after the inbox retention', async () => {
    // "I paid and got no credits": the completion failed (the worker's last attempt), support refunded the payment,
    // and weeks later the on-call replays the failed events. The refund found no purchase then (ignored): its stored
    // event is the only record the completion reads, so pruning it as finished handed the pack over for free.
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 1000);
    const pi = rid('pi');
    const completed = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    const [failed] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload, status, attempts, last_error)
      VALUES ('stripe', ${completed.id as string}, 'checkout.session.completed', ${shop.id}::uuid, ${JSON.stringify(completed)}::jsonb, 'failed', 8, 'boom')
      RETURNING id`;
    const refund = stripeEvent('charge.refunded', chargeObject(pi));
    await postStripe(app, refund);
    expect(await settled(refund.id as string)).toBe('ignored');

    const old = new Date(Date.now() - worker.config.WEBHOOK_RETENTION_MS - 60_000);
    await env.db.$executeRaw`UPDATE webhook_events SET received_at = ${old} WHERE provider = 'stripe' AND event_id IN (${refund.id as string}, ${completed.id as string})`;
    await pruneFinishedWebhookEvents(env.db, { before: new Date(Date.now() - worker.config.WEBHOOK_RETENTION_MS), batchSize: 1000, maxBatches: 100 });

    expect(await replayWebhookEvent(worker, failed!.id)).toBe('requeued');
    expect(await settled(completed.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledgerKeys(shop.id)).toEqual([]);
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', granted_at: null });

    // Named by the purchase now: pruned with the rest.
    await pruneFinishedWebhookEvents(env.db, { before: new Date(Date.now() - worker.config.WEBHOOK_RETENTION_MS), batchSize: 1000, maxBatches: 100 });
    expect(await webhookEvent(env.db, 'stripe', refund.id as string)).toBeUndefined();
  });

  it('refund after completion claws the credits back once', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 1000);
    const pi = rid('pi');
    const completed = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    await postStripe(app, completed);
    expect(await settled(completed.id as string)).toBe('processed');
    const refund = stripeEvent('charge.refunded', chargeObject(pi));
    const again = stripeEvent('charge.refunded', chargeObject(pi));
    await Promise.all([postStripe(app, refund), postStripe(app, again)]);
    expect(await settled(refund.id as string)).toBe('processed');
    expect(await settled(again.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledgerKeys(shop.id)).toEqual([`purchase-${sessionId}`, `refund-${sessionId}`]);
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', refund_shortfall: 0n });
  });

  it('a refund never takes reserved credits: the shortfall is recorded and counted', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 1000);
    const pi = rid('pi');
    const completed = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    await postStripe(app, completed);
    expect(await settled(completed.id as string)).toBe('processed');
    await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: null, reservationKey: rid('hold'), amount: 600 }));
    const before = await counterValue(worker.metrics, 'creditRefundShortfall');

    const refund = stripeEvent('charge.refunded', chargeObject(pi));
    await postStripe(app, refund);
    expect(await settled(refund.id as string)).toBe('processed');

    expect(await wallet(env.db, shop.id)).toEqual({ balance: 600, reserved: 600 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', refund_shortfall: 600n });
    expect((await counterValue(worker.metrics, 'creditRefundShortfall')) - before).toBe(600);
    const [refundRow] = await env.db.$queryRaw<{ amount: bigint }[]>`
      SELECT amount FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND idempotency_key = ${`refund-${sessionId}`}`;
    expect(refundRow!.amount).toBe(-400n);
  });

  it('a lost dispute claws the credits back once (its hold first), as a full refund does; a won dispute keeps them', async () => {
    const shop = await createShop(env.db);
    const [lostSession, wonSession] = [await pendingPurchase(shop.id, 1000), await pendingPurchase(shop.id, 500)];
    const [lostPi, wonPi] = [rid('pi'), rid('pi')];
    for (const [sessionId, pi] of [[lostSession, lostPi], [wonSession, wonPi]] as const) {
      const completed = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
      await postStripe(app, completed);
      expect(await settled(completed.id as string)).toBe('processed');
    }
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1500, reserved: 0 });

    const opened = stripeEvent('charge.dispute.created', disputeObject(lostPi, 'needs_response'));
    const won = stripeEvent('charge.dispute.closed', disputeObject(wonPi, 'won'));
    const lost = stripeEvent('charge.dispute.closed', disputeObject(lostPi, 'lost'));
    // The refund of the same payment after the lost dispute takes nothing more.
    const refund = stripeEvent('charge.refunded', chargeObject(lostPi));
    for (const e of [opened, won, lost, refund]) await postStripe(app, e);
    // The opening holds the disputed pack; the won closing, seen first, is recorded (nothing was held).
    expect([await settled(opened.id as string), await settled(won.id as string), await settled(lost.id as string), await settled(refund.id as string)]).toEqual([
      'processed',
      'processed',
      'processed',
      'processed',
    ]);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 500, reserved: 0 });
    expect(await ledgerKeys(shop.id)).toEqual(expect.arrayContaining([`refund-${lostSession}`]));
    expect((await ledgerKeys(shop.id)).filter((k) => k.startsWith('refund-'))).toEqual([`refund-${lostSession}`]);
    expect(await purchase(lostSession)).toMatchObject({ status: 'refunded', refund_shortfall: 0n });
    expect(await purchase(wonSession)).toMatchObject({ status: 'paid' });
  });

  it('a dispute lost before the completion is seen by it: the completion grants nothing', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 1000);
    const pi = rid('pi');
    const lost = stripeEvent('charge.dispute.closed', disputeObject(pi, 'lost'));
    await postStripe(app, lost);
    expect(await settled(lost.id as string)).toBe('ignored');
    const completed = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    await postStripe(app, completed);
    expect(await settled(completed.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', granted_at: null });
  });

  it('a paid session with no purchase row is recorded and ignored', async () => {
    const event = stripeEvent('checkout.session.completed', sessionObject(rid('cs_test')));
    expect((await postStripe(app, event)).body).toEqual({ received: true });
    expect(await settled(event.id as string)).toBe('ignored');
  });

  it('an event type we do not handle is stored and ignored', async () => {
    const event = stripeEvent('customer.created', { id: rid('cus'), object: 'customer' });
    expect((await postStripe(app, event)).status).toBe(200);
    expect(await settled(event.id as string)).toBe('ignored');
  });

  it('a replay of a processed event whose grant went missing repairs the grant', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 300);
    const event = stripeEvent('checkout.session.completed', sessionObject(sessionId, { shopId: shop.id }));
    await postStripe(app, event);
    expect(await settled(event.id as string)).toBe('processed');
    // Lose the grant behind the event's back (ledger row and its wallet effect).
    await env.db.$transaction(async (tx) => {
      await tx.$executeRaw`DELETE FROM credit_transactions WHERE shop_id = ${shop.id}::uuid`;
      await tx.$executeRaw`UPDATE credit_wallets SET balance = 0 WHERE shop_id = ${shop.id}::uuid`;
    });
    const row = await webhookEvent(env.db, 'stripe', event.id as string);
    await replayWebhookEvent(worker, row!.id);
    expect(await settled(event.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 300, reserved: 0 });
    expect(await ledgerKeys(shop.id)).toEqual([`purchase-${sessionId}`]);
  });

  it('refuses a wrong secret, a tampered body, a missing header and a timestamp stale or ahead by more than 300 s, storing nothing', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id);
    const event = stripeEvent('checkout.session.completed', sessionObject(sessionId, { shopId: shop.id }));
    const payload = JSON.stringify(event);
    const before = await tableFingerprints(env.db);
    const invalidBefore = await counterValue(api.metrics, 'webhookEvents', { source: 'stripe', outcome: 'invalid_signature' });

    const signed = (await import('stripe')).default.webhooks.generateTestHeaderString({ payload, secret: process.env.STRIPE_WEBHOOK_SECRET! });
    const attempts = [
      postStripe(app, payload, { secret: 'whsec_wrong' }),
      postStripe(app, payload.replace('"paid"', '"paiD"'), { header: signed }),
      postStripe(app, payload, { header: null }),
      postStripe(app, payload, { timestamp: Math.floor(Date.now() / 1000) - 301 }),
      // Outside the tolerance the other way (api.md: 300 s): the library only checks age, so a signature dated
      // ahead of time stayed replayable until then.
      postStripe(app, payload, { timestamp: Math.floor(Date.now() / 1000) + 301 }),
      postStripe(app, payload, { timestamp: Math.floor(Date.now() / 1000) + 30 * 24 * 3600 }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('INVALID_SIGNATURE');
    }
    expect(await tableFingerprints(env.db)).toEqual(before);
    expect((await counterValue(api.metrics, 'webhookEvents', { source: 'stripe', outcome: 'invalid_signature' })) - invalidBefore).toBe(6);
  });

  it('answers 200 when Redis is down after the insert; reconciliation requeues the stored event', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop.id, 200);
    const { app: offline } = await env.api({
      producer: {
        add: async () => {
          throw new Error('Stream isn\'t writeable and enableOfflineQueue options is false');
        },
        addBulk: async () => {
          throw new Error('Stream isn\'t writeable and enableOfflineQueue options is false');
        },
      },
    });
    const event = stripeEvent('checkout.session.completed', sessionObject(sessionId, { shopId: shop.id }));
    const res = await postStripe(offline, event);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true });
    expect((await webhookEvent(env.db, 'stripe', event.id as string))?.status).toBe('received');

    const result = await requeueStuckWebhookEvents(worker, { olderThanMs: 0, maxAttempts: 20, now: new Date(Date.now() + 1000) });
    expect(result.requeued).toBeGreaterThanOrEqual(1);
    expect(await settled(event.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 200, reserved: 0 });
  });
});
