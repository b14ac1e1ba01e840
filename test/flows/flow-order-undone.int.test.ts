import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, type ContactFixture, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { refundBody as shopifyRefund } from '../shopify-refunds';
import { deliverShopify, wallet } from '../webhooks';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import type { StepOutcome } from '../../domain/flows/execute-flow-step';
import { executeFlowSteps } from '../../domain/flows/execute-flow-steps';
import { stepsSchema } from '../../domain/flows/flow-input';
import type { FlowSendDeps } from '../../domain/flows/send-flow-message';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import type { OutboundMessage } from '../../domain/messaging/providers/provider';
import { cancelShopifyOrder } from '../../domain/orders/cancel-order';
import { recordRefundTransactions } from '../../domain/orders/record-refund';
import type { Tx } from '../../lib/db';
import { openShop, recordedSendDeps, textsTo as textsToOf } from './send-kit';

// A post-purchase run ("thank you" now, "leave a review" a week later) ends
// before its next message once its order is cancelled (orders/cancelled) or
// refunded in full (refunds/create): exited order_cancelled / order_refunded,
// no message, no credits, counted in the flow's stats. A partial refund, a
// run whose order is not stored and a cancellation after the last message
// change nothing. The send decides under the order's lock: a cancellation or
// a refund committing at that moment is seen, or waits for the send.
// Real Postgres, Redis and the simulator behind the provider adapter; signed
// Shopify webhooks; the clock is passed in, so the week's wait is crossed
// without sleeping.

const day = 86_400_000;

describe('a post-purchase run whose order is cancelled or refunded', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;
  let simUrl: string;
  const sent: OutboundMessage[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
    ({ sim, url: simUrl } = await startSimulator({ dedupsByReference: false }));
  });
  afterAll(async () => {
    await sim.stop();
    await env.close();
  });

  const sendDeps = (): FlowSendDeps => recordedSendDeps(env, simUrl, sent);
  const textsTo = (phone: string) => textsToOf(sent, phone);

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body);
  const statsOf = async (shop: ShopFixture, flowId: string) => (await request(app).get(`/api/flows/${flowId}/stats`).set('Authorization', await auth(shop))).body;

  const shopFor = (): Promise<ShopFixture> => openShop(env.db);

  const postPurchase = [
    { type: 'send', body: 'Thank you for your order!' },
    { type: 'wait', duration: { amount: 7, unit: 'days' } },
    { type: 'send', body: 'Leave a review?' },
  ];
  async function liveFlow(shop: ShopFixture, steps: object[] = postPurchase): Promise<{ id: string; versionId: string; steps: object[] }> {
    const created = await post(shop, '/api/flows', { name: 'Post-purchase', trigger: { type: 'order_created' }, steps });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id, steps };
  }

  let seq = 1;
  const nextId = (): number => Date.now() * 100 + seq++;
  const orderBody = (contact: ContactFixture, total: string, id = nextId()) => ({
    id,
    created_at: new Date().toISOString(),
    cancelled_at: null,
    total_price: total,
    currency: 'USD',
    customer: { id: nextId(), phone: contact.phone },
    phone: contact.phone,
    landing_site: '/',
    referring_site: null,
    source_name: 'web',
    discount_codes: [],
    line_items: [{ id: 1, title: 'Tee', quantity: 1 }],
  });
  const refundBody = (orderId: number, amount: string, currency = 'USD') => ({
    id: nextId(),
    order_id: orderId,
    created_at: new Date().toISOString(),
    processed_at: new Date().toISOString(),
    restock: false,
    transactions: [{ id: nextId(), order_id: orderId, kind: 'refund', status: 'success', amount, currency, gateway: 'shopify_payments' }],
    refund_line_items: [],
    order_adjustments: [],
  });

  /** A stored order of the contact (signed orders/create) and its flow run, as the trigger job starts it. */
  async function orderRun(shop: ShopFixture, flow: { id: string; versionId: string; steps: object[] }, contact: ContactFixture, at: Date, total = '80.00') {
    const order = orderBody(contact, total);
    expect(await deliverShopify(app, env.db, 'orders/create', order, shop.domain)).toBe('processed');
    const runId = await startRun(shop, flow, contact.id, at, String(order.id));
    return { order, runId };
  }
  async function startRun(shop: ShopFixture, flow: { id: string; versionId: string; steps: object[] }, contactId: string, at: Date, subject: string): Promise<string> {
    const runs = await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id, triggerType: 'order_created', shopTimezone: 'UTC', traceId: 'test', requireLive: true,
        flows: [{ id: flow.id, versionId: flow.versionId, steps: stepsSchema.parse(flow.steps) }],
        candidates: [{ contactId, subject, triggeredAt: at, baseAt: at, phone: null, timezone: null }],
      }),
    );
    expect(runs).toHaveLength(1);
    return runs[0]!.id;
  }
  const cancel = (shop: ShopFixture, order: ReturnType<typeof orderBody>) =>
    deliverShopify(app, env.db, 'orders/cancelled', { ...order, cancelled_at: new Date().toISOString(), cancel_reason: 'customer' }, shop.domain);

  /** One scheduler tick at `now`, its claim executed as the worker's step job does (several runs: the batched send path). */
  async function tick(now: Date): Promise<Map<string, StepOutcome>> {
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    if (claim.runIds.length === 0) return new Map();
    return executeFlowSteps(env.db, { runIds: claim.runIds, claimToken: claim.claimToken, now: () => now, send: sendDeps() });
  }
  /** The thank-you sent and the week's wait begun: each run due at its review step. */
  async function thanked(t0: Date, runIds: string[]): Promise<void> {
    await tick(t0);
    await tick(t0);
    for (const id of runIds) expect(await run(id)).toMatchObject({ status: 'active', current_step: 2 });
  }
  const run = async (id: string) => {
    const [r] = await env.db.$queryRaw<{ status: string; exit_reason: string | null; current_step: number }[]>`
      SELECT status, exit_reason, current_step FROM flow_runs WHERE id = ${id}::bigint`;
    return r!;
  };
  const messages = (runId: string) =>
    env.db.$queryRaw<{ step: number; status: string; error_code: string | null; credits: number }[]>`
      SELECT step, status, error_code, credits FROM flow_messages WHERE run_id = ${runId}::bigint ORDER BY step`;
  const debits = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ n: bigint | null }[]>`SELECT -sum(amount) AS n FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND type = 'debit'`;
    return Number(r?.n ?? 0);
  };
  /** Whether a step's send is waiting for an order row's lock (trigger-order-undone.ts). */
  const sendWaitsOnOrder = async () => {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR SHARE OF o%'`;
    return r!.n > 0;
  };
  /** `write` in a transaction held open until the step job is seen waiting on it, then committed. */
  async function heldOpen<T>(write: (tx: Tx) => Promise<unknown>, during: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let written!: () => void;
    const wrote = new Promise<void>((r) => (written = r));
    const tx = env.db.$transaction(async (t) => {
      await write(t);
      written();
      await gate;
    }, { timeout: 60_000 });
    await wrote;
    const step = during();
    try {
      await waitFor('the send waiting on the order row', sendWaitsOnOrder, 10_000);
    } finally {
      release();
      await tx;
    }
    return await step;
  }

  it('cancelled before the review: the run ends order_cancelled, with no message and no credits, and the stats count it', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop);
    const t0 = new Date(Date.UTC(2027, 0, 4, 16));
    const [ann, bob] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const cancelled = await orderRun(shop, flow, ann, t0);
    const kept = await orderRun(shop, flow, bob, t0);
    await thanked(t0, [cancelled.runId, kept.runId]);
    expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
    const after = { wallet: await wallet(env.db, shop.id), debits: await debits(shop.id) };
    expect(after.debits).toBe(2);

    expect(await cancel(shop, cancelled.order)).toBe('processed');
    // Both runs in one claim: the batched send path sends Bob's review and leaves Ann's run to end.
    const outcomes = await tick(new Date(t0.getTime() + 7 * day + 60_000));
    expect(outcomes.get(cancelled.runId)).toEqual({ kind: 'exited', reason: 'order_cancelled' });
    expect(outcomes.get(kept.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(await run(cancelled.runId)).toMatchObject({ status: 'exited', exit_reason: 'order_cancelled', current_step: 2 });
    expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
    expect(textsTo(bob.phone)).toEqual(['Thank you for your order!', 'Leave a review?']);
    expect((await messages(cancelled.runId)).map((m) => [m.step, m.status])).toEqual([[0, 'sent']]);
    // Only Bob's review was charged.
    expect(await debits(shop.id)).toBe(after.debits + 1);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: after.wallet.balance - 1, reserved: 0 });

    const stats = await statsOf(shop, flow.id);
    expect(stats.runs).toMatchObject({ started: 2, active: 0, completed: 1, exited: 1, exitedByReason: { order_cancelled: 1 } });
    expect(stats.steps[2].runs).toMatchObject({ exited: 1, exitedByReason: { order_cancelled: 1 } });
    expect(stats.messages).toMatchObject({ sent: 3 });
  });

  it('cancelled during the week, the run alone in its claim: it ends at its wait, before the review', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop);
    const t0 = new Date(Date.UTC(2027, 0, 5, 16));
    const ann = await createContact(env.db, shop.id);
    const { order, runId } = await orderRun(shop, flow, ann, t0);
    await tick(t0);
    // At the wait, a send still ahead: the wait step ends it (the one-run path).
    expect(await cancel(shop, order)).toBe('processed');
    expect((await tick(t0)).get(runId)).toEqual({ kind: 'exited', reason: 'order_cancelled' });
    expect(await run(runId)).toMatchObject({ status: 'exited', exit_reason: 'order_cancelled', current_step: 1 });
    expect(await tick(new Date(t0.getTime() + 8 * day))).toEqual(new Map());
    expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
    expect(await debits(shop.id)).toBe(1);
  });

  it('refunded in full (two refunds adding up to the total) ends order_refunded; a partial refund or one in another currency goes on', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop);
    const t0 = new Date(Date.UTC(2027, 0, 6, 16));
    const [ann, bob, cat] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const full = await orderRun(shop, flow, ann, t0);
    const partial = await orderRun(shop, flow, bob, t0);
    const foreign = await orderRun(shop, flow, cat, t0);
    await thanked(t0, [full.runId, partial.runId, foreign.runId]);
    const debited = await debits(shop.id);

    for (const amount of ['30.00', '50.00']) expect(await deliverShopify(app, env.db, 'refunds/create', refundBody(full.order.id, amount), shop.domain)).toBe('processed');
    expect(await deliverShopify(app, env.db, 'refunds/create', refundBody(partial.order.id, '79.99'), shop.domain)).toBe('processed');
    // 80.00 given back in euros with no money bag saying what that is in dollars: no exchange rate is guessed, the USD order stands.
    expect(await deliverShopify(app, env.db, 'refunds/create', refundBody(foreign.order.id, '80.00', 'EUR'), shop.domain)).toBe('processed');

    const outcomes = await tick(new Date(t0.getTime() + 7 * day + 60_000));
    expect(outcomes.get(full.runId)).toEqual({ kind: 'exited', reason: 'order_refunded' });
    expect(outcomes.get(partial.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(outcomes.get(foreign.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
    expect(textsTo(bob.phone)).toEqual(['Thank you for your order!', 'Leave a review?']);
    expect(textsTo(cat.phone)).toEqual(['Thank you for your order!', 'Leave a review?']);
    expect((await messages(full.runId)).map((m) => m.step)).toEqual([0]);
    expect(await debits(shop.id)).toBe(debited + 2);
    expect((await statsOf(shop, flow.id)).runs).toMatchObject({ completed: 2, exited: 1, exitedByReason: { order_refunded: 1 } });
  });

  it("refunded in full in the customer's currency ends order_refunded; refunded in part in it goes on", async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop);
    const t0 = new Date(Date.UTC(2027, 0, 6, 18));
    const [ann, bob] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const [full, part] = [await orderRun(shop, flow, ann, t0), await orderRun(shop, flow, bob, t0)];
    await thanked(t0, [full.runId, part.runId]);
    const debited = await debits(shop.id);
    // The 80.00 USD orders were paid 73.60 EUR: one refunded in full in euros (its shop-money figure is the whole
    // total: 60.00 USD item and 20.00 USD shipping), the other all but 0.01 USD.
    const inEuros = (orderId: number, item: [string, string], amount: string) =>
      shopifyRefund(orderId, {
        transactions: [{ status: 'success', amount, currency: 'EUR' }],
        lineItems: [{ subtotal: item, tax: ['0.00', '0.00'] }],
        adjustments: [['-20.00', '-18.40']],
      });
    expect(await deliverShopify(app, env.db, 'refunds/create', inEuros(full.order.id, ['60.00', '55.20'], '73.60'), shop.domain)).toBe('processed');
    expect(await deliverShopify(app, env.db, 'refunds/create', inEuros(part.order.id, ['59.99', '55.19'], '73.59'), shop.domain)).toBe('processed');

    const outcomes = await tick(new Date(t0.getTime() + 7 * day + 60_000));
    expect(outcomes.get(full.runId)).toEqual({ kind: 'exited', reason: 'order_refunded' });
    expect(outcomes.get(part.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
    expect(textsTo(bob.phone)).toEqual(['Thank you for your order!', 'Leave a review?']);
    expect(await debits(shop.id)).toBe(debited + 1);
    expect((await statsOf(shop, flow.id)).runs).toMatchObject({ completed: 1, exited: 1, exitedByReason: { order_refunded: 1 } });
  });

  it('refunded in full by a pending refund transaction that succeeds later (either arrival order) ends order_refunded; one still pending goes on', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop);
    const t0 = new Date(Date.UTC(2027, 0, 6, 20));
    const [ann, bob, cat] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const [later, earlier, pending] = [await orderRun(shop, flow, ann, t0), await orderRun(shop, flow, bob, t0), await orderRun(shop, flow, cat, t0)];
    await thanked(t0, [later.runId, earlier.runId, pending.runId]);
    const debited = await debits(shop.id);
    const deliver = (topic: string, body: Record<string, unknown>) => deliverShopify(app, env.db, topic, body, shop.domain);
    const pendingRefund = (orderId: number) => shopifyRefund(orderId, { currencies: ['USD', 'USD'], transactions: [{ status: 'pending', amount: '80.00', currency: 'USD' }] });
    const succeeded = (refund: ReturnType<typeof pendingRefund>) => ({ ...refund.transactions[0]!, status: 'success' });

    // Pending at refunds/create, its success after it; its success before it; and one still pending.
    const [laterRefund, earlierRefund, pendingOnly] = [pendingRefund(later.order.id), pendingRefund(earlier.order.id), pendingRefund(pending.order.id)];
    expect(await deliver('refunds/create', laterRefund)).toBe('processed');
    expect(await deliver('order_transactions/create', succeeded(laterRefund))).toBe('processed');
    expect(await deliver('order_transactions/create', succeeded(earlierRefund))).toBe('processed');
    expect(await deliver('refunds/create', earlierRefund)).toBe('processed');
    expect(await deliver('refunds/create', pendingOnly)).toBe('processed');

    const outcomes = await tick(new Date(t0.getTime() + 7 * day + 60_000));
    for (const r of [later, earlier]) expect(outcomes.get(r.runId)).toEqual({ kind: 'exited', reason: 'order_refunded' });
    expect(outcomes.get(pending.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    for (const c of [ann, bob]) expect(textsTo(c.phone)).toEqual(['Thank you for your order!']);
    expect(textsTo(cat.phone)).toEqual(['Thank you for your order!', 'Leave a review?']);
    expect(await debits(shop.id)).toBe(debited + 1);
    expect((await statsOf(shop, flow.id)).runs).toMatchObject({ completed: 1, exited: 2, exitedByReason: { order_refunded: 2 } });
  });

  it('a cancellation after the last message, and a run whose order is not stored, change nothing', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, [{ type: 'send', body: 'Thank you for your order!' }, { type: 'wait', duration: { amount: 1, unit: 'days' } }]);
    const t0 = new Date(Date.UTC(2027, 0, 7, 16));
    const [ann, bob] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const { order, runId } = await orderRun(shop, flow, ann, t0);
    // An order never stored (orders/create lost): its run goes on as any other.
    const unknown = await startRun(shop, flow, bob.id, t0, String(nextId()));
    expect((await tick(t0)).get(runId)).toMatchObject({ kind: 'advanced', step: 1, message: 'sent' });
    // Its last message sent, a trailing wait left: cancelled now, it finishes as it would have.
    expect(await cancel(shop, order)).toBe('processed');
    expect((await tick(t0)).get(runId)).toEqual({ kind: 'completed' });
    expect(await run(runId)).toMatchObject({ status: 'completed', exit_reason: null });
    expect(await run(unknown)).toMatchObject({ status: 'completed', exit_reason: null });
    expect(textsTo(bob.phone)).toEqual(['Thank you for your order!']);
    // Cancelled or refunded once completed: nothing moves, nothing is counted as an exit.
    expect(await deliverShopify(app, env.db, 'refunds/create', refundBody(order.id, '80.00'), shop.domain)).toBe('processed');
    await tick(new Date(t0.getTime() + 9 * day));
    expect(await run(runId)).toMatchObject({ status: 'completed', exit_reason: null });
    expect((await statsOf(shop, flow.id)).runs).toMatchObject({ started: 2, completed: 2, exited: 0, exitedByReason: {} });
    expect(await debits(shop.id)).toBe(2);
  });

  describe('a cancellation or a refund committing while the review is being decided', () => {
    it('a cancellation in flight: the one-run send waits for it and sends nothing', async () => {
      const shop = await shopFor();
      const flow = await liveFlow(shop);
      const t0 = new Date(Date.UTC(2027, 0, 8, 16));
      const ann = await createContact(env.db, shop.id);
      const { order, runId } = await orderRun(shop, flow, ann, t0);
      await thanked(t0, [runId]);
      const before = await wallet(env.db, shop.id);

      const step = await heldOpen(
        (tx) => cancelShopifyOrder(tx, { shopId: shop.id, orderId: String(order.id), cancelledAt: new Date() }),
        () => tick(new Date(t0.getTime() + 7 * day + 60_000)),
      );
      expect(step.get(runId)).toMatchObject({ kind: 'exited', reason: 'order_cancelled', message: 'done' });
      expect(await run(runId)).toMatchObject({ status: 'exited', exit_reason: 'order_cancelled' });
      expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
      expect((await messages(runId)).map((m) => m.step)).toEqual([0]);
      expect(await wallet(env.db, shop.id)).toEqual(before);
    });

    it('a full refund in flight: the batched send waits for it, leaves that run out and sends the others', async () => {
      const shop = await shopFor();
      const flow = await liveFlow(shop);
      const t0 = new Date(Date.UTC(2027, 0, 9, 16));
      const [ann, bob] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
      const refunded = await orderRun(shop, flow, ann, t0);
      const kept = await orderRun(shop, flow, bob, t0);
      await thanked(t0, [refunded.runId, kept.runId]);
      const before = await wallet(env.db, shop.id);

      const step = await heldOpen(
        (tx) =>
          recordRefundTransactions(tx, {
            shopId: shop.id, orderId: String(refunded.order.id),
            facts: [{ transactionId: String(nextId()), parentId: null, refundId: String(nextId()), currency: 'USD', amountMinor: 8_000n, state: 'success', shop: null }],
          }),
        () => tick(new Date(t0.getTime() + 7 * day + 60_000)),
      );
      const outcomes = step;
      expect(outcomes.get(refunded.runId)).toEqual({ kind: 'exited', reason: 'order_refunded' });
      expect(outcomes.get(kept.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
      expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
      expect(textsTo(bob.phone)).toEqual(['Thank you for your order!', 'Leave a review?']);
      expect(await wallet(env.db, shop.id)).toEqual({ balance: before.balance - 1, reserved: 0 });
    });

    it('a message an attempt may have sent, its order cancelled in flight: recorded unknown, not sent again, the run ends order_cancelled', async () => {
      const shop = await shopFor();
      const flow = await liveFlow(shop);
      const t0 = new Date(Date.UTC(2027, 0, 10, 16));
      const ann = await createContact(env.db, shop.id);
      const { order, runId } = await orderRun(shop, flow, ann, t0);
      await thanked(t0, [runId]);
      // An attempt died between its provider call and its settle: its row left `sending` under its claim.
      await env.db.$executeRaw`
        INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, body, segments, encoding, claim_token, attempts)
        SELECT id, 2, shop_id, flow_id, version_id, contact_id, 'sending', 'Leave a review?', 1, 'GSM-7', gen_random_uuid(), 1 FROM flow_runs WHERE id = ${runId}::bigint`;
      const before = await wallet(env.db, shop.id);

      const step = await heldOpen(
        (tx) => cancelShopifyOrder(tx, { shopId: shop.id, orderId: String(order.id), cancelledAt: new Date() }),
        () => tick(new Date(t0.getTime() + 7 * day + 60_000)),
      );
      expect(step.get(runId)).toMatchObject({ kind: 'exited', reason: 'order_cancelled', message: 'unknown' });
      expect(await run(runId)).toMatchObject({ status: 'exited', exit_reason: 'order_cancelled' });
      expect((await messages(runId)).map((m) => [m.step, m.status, m.error_code, m.credits])).toEqual([[0, 'sent', null, 1], [2, 'unknown', 'lease_expired', 0]]);
      expect(textsTo(ann.phone)).toEqual(['Thank you for your order!']);
      expect(await wallet(env.db, shop.id)).toEqual(before);
    });
  });
});
