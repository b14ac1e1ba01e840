import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, type ContactFixture, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { wallet } from '../webhooks';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { recordShopifyCheckout } from '../../domain/checkouts/record-checkout';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import type { StepOutcome } from '../../domain/flows/execute-flow-step';
import { executeFlowSteps } from '../../domain/flows/execute-flow-steps';
import { stepsSchema } from '../../domain/flows/flow-input';
import { ordersPlacedSince } from '../../domain/flows/order-placed-since';
import type { FlowSendDeps } from '../../domain/flows/send-flow-message';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import type { OutboundMessage } from '../../domain/messaging/providers/provider';
import { lockShopifyCustomer } from '../../domain/orders/customer-lock';
import { linkCustomerOrders } from '../../domain/orders/link-customer-orders';
import { recordShopifyOrder } from '../../domain/orders/record-order';
import type { Tx } from '../../lib/db';
import { openShop, recordedSendDeps, textsTo as textsToOf } from './send-kit';

// An abandoned-checkout reminder ("you left something in your cart") is not
// sent once the customer bought: an order placed since the trigger (the
// version's orderPlaced exit) or the checkout's completion ends the run
// (exited order_placed). Those facts were read without a lock, so an
// orders/create or a checkouts/update committing while the step was being
// decided still let the message go out right after the purchase. The send
// now decides under the contact's and the checkout's row locks, which the
// writers of those facts conflict with (domain/flows/order-placed-since.ts):
// a purchase committing at that moment is seen, or waits until the send is
// marked. A hasOrderedSinceTrigger condition step, which read the same fact
// without a lock, decides under the same locks now. Real Postgres, Redis and
// the simulator behind the provider adapter; the clock is passed in.

const minute = 60_000;

describe('an order or a checkout completion committing while an abandoned-checkout reminder (or a condition on orders) is decided', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;
  let simUrl: string;
  const sent: OutboundMessage[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ sim, url: simUrl } = await startSimulator({ dedupsByReference: false }));
  });
  afterAll(async () => {
    await sim.stop();
    await env.close();
  });

  const sendDeps = (): FlowSendDeps => recordedSendDeps(env, simUrl, sent);
  const textsTo = (phone: string) => textsToOf(sent, phone);

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  const shopFor = (): Promise<ShopFixture> => openShop(env.db);

  const reminder = [{ type: 'send', body: 'Forgot something? {{checkoutUrl}}' }];
  type CartFlow = { id: string; versionId: string; steps: unknown[] };
  /** An abandoned-cart flow, live; with `exitCondition` given, that one instead of the default (an order placed ends the run). */
  async function cartFlow(shop: ShopFixture, steps: unknown[] = reminder, exitCondition?: { orderPlaced: boolean }): Promise<CartFlow> {
    const created = await post(shop, '/api/flows', { name: 'Abandoned cart', trigger: { type: 'checkout_abandoned', delayMinutes: 60 }, steps, exitCondition });
    expect(created.status).toBe(201);
    // The default exit condition of a checkout flow: an order placed ends the run.
    expect(created.body.currentVersion.exitCondition).toEqual(exitCondition ?? { orderPlaced: true });
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id, steps };
  }

  /** The contact's open checkout (as checkouts/create stored it) and its run, as the trigger job starts it: due an hour after t0. */
  async function cartRun(shop: ShopFixture, flow: CartFlow, contact: ContactFixture, t0: Date) {
    const token = `tok-${randomUUID()}`;
    await env.db.$executeRaw`
      INSERT INTO shopify_checkouts (shop_id, token, contact_id, abandoned_checkout_url, shopify_updated_at)
      VALUES (${shop.id}::uuid, ${token}, ${contact.id}::uuid, 'https://shop.example/recover', ${t0}::timestamptz)`;
    const runs = await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id, triggerType: 'checkout_abandoned', shopTimezone: 'UTC', traceId: 'test', requireLive: true,
        flows: [{ id: flow.id, versionId: flow.versionId, steps: stepsSchema.parse(flow.steps) }],
        candidates: [{ contactId: contact.id, subject: token, triggeredAt: t0, baseAt: new Date(t0.getTime() + 60 * minute), phone: null, timezone: 'UTC' }],
      }),
    );
    expect(runs).toHaveLength(1);
    return { token, runId: runs[0]!.id };
  }

  let seq = 1;
  const nextId = (): string => String(Date.now() * 100 + seq++);
  /** What orders/create does with the order: under the customer's lock, stored, the contact's summary moved. */
  const placeOrder = (shop: ShopFixture, contact: ContactFixture, at: Date) => async (tx: Tx) => {
    const customerId = nextId();
    await lockShopifyCustomer(tx, shop.id, customerId);
    const r = await recordShopifyOrder(tx, {
      shopId: shop.id, orderId: nextId(), customerId, phones: [contact.phone], totalPrice: '42.00', currency: 'USD', orderedAt: at,
      landingSite: '/', referringSite: null, sourceName: 'web', discountCodes: [],
    });
    expect(r).toEqual({ outcome: 'recorded', contactId: contact.id });
  };
  /** What checkouts/update with `completed_at` does: the checkout's row upserted completed. */
  const completeCheckout = (shop: ShopFixture, token: string, at: Date) => async (tx: Tx) => {
    expect(await recordShopifyCheckout(tx, {
      shopId: shop.id, token, customerId: null, phones: [], abandonedCheckoutUrl: 'https://shop.example/recover', updatedAt: at, completedAt: at,
    })).toBe('stored');
  };

  /** One scheduler tick at `now`, its claim executed as the worker's step job does (several runs: the batched send path). */
  async function tick(now: Date): Promise<Map<string, StepOutcome>> {
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    if (claim.runIds.length === 0) return new Map();
    return executeFlowSteps(env.db, { runIds: claim.runIds, claimToken: claim.claimToken, now: () => now, send: sendDeps() });
  }
  const run = async (id: string) => {
    const [r] = await env.db.$queryRaw<{ status: string; exit_reason: string | null; sending_message_id: bigint | null; current_step: number }[]>`
      SELECT status, exit_reason, sending_message_id, current_step FROM flow_runs WHERE id = ${id}::bigint`;
    return r!;
  };
  const messages = (runId: string) =>
    env.db.$queryRaw<{ step: number; status: string }[]>`SELECT step, status FROM flow_messages WHERE run_id = ${runId}::bigint ORDER BY step`;
  /** Sessions of this database waiting on a lock while running a statement that contains `fragment`. */
  const waitingOn = async (fragment: string) => {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, ${fragment}) > 0`;
    return r!.n > 0;
  };
  const sendWaits = async () => (await waitingOn('FOR SHARE OF c')) || (await waitingOn('FOR SHARE OF k'));

  /**
   * `write` in a transaction held open while the step job runs, until the job
   * is seen waiting on it (or has finished without waiting: the defect), then
   * committed.
   */
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
    let finished = false;
    const step = during().finally(() => (finished = true));
    try {
      await waitFor('the send waiting on the contact or the checkout row', async () => finished || (await sendWaits()), 10_000);
    } finally {
      release();
      await tx;
    }
    return await step;
  }

  it('an order committing while the one-run send decides: the send waits for it and sends nothing; the run exits order_placed', async () => {
    const shop = await shopFor();
    const flow = await cartFlow(shop);
    const t0 = new Date(Date.UTC(2027, 1, 1, 16));
    const ann = await createContact(env.db, shop.id);
    const { runId } = await cartRun(shop, flow, ann, t0);
    const before = await wallet(env.db, shop.id);

    // Alone in its claim: the one-message path (sendFlowMessage).
    const step = await heldOpen(placeOrder(shop, ann, new Date(t0.getTime() + 30 * minute)), () => tick(new Date(t0.getTime() + 60 * minute)));
    expect(step.get(runId)).toEqual({ kind: 'exited', reason: 'order_placed', message: 'done' });
    expect(await run(runId)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(textsTo(ann.phone)).toEqual([]);
    expect(await messages(runId)).toEqual([]);
    expect(await wallet(env.db, shop.id)).toEqual(before);
  });

  it('an order committing while the batched send decides: that run is left out and ends order_placed, the others are sent', async () => {
    const shop = await shopFor();
    const flow = await cartFlow(shop);
    const t0 = new Date(Date.UTC(2027, 1, 2, 16));
    const [ann, bob, cat] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const bought = await cartRun(shop, flow, ann, t0);
    const [idle1, idle2] = [await cartRun(shop, flow, bob, t0), await cartRun(shop, flow, cat, t0)];
    const before = await wallet(env.db, shop.id);

    const outcomes = await heldOpen(placeOrder(shop, ann, new Date(t0.getTime() + 30 * minute)), () => tick(new Date(t0.getTime() + 60 * minute)));
    expect(outcomes.get(bought.runId)).toEqual({ kind: 'exited', reason: 'order_placed' });
    expect(outcomes.get(idle1.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(outcomes.get(idle2.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(await run(bought.runId)).toMatchObject({ status: 'exited', exit_reason: 'order_placed', sending_message_id: null });
    expect(textsTo(ann.phone)).toEqual([]);
    expect(await messages(bought.runId)).toEqual([]);
    expect(textsTo(bob.phone)).toEqual(['Forgot something? https://shop.example/recover']);
    expect(textsTo(cat.phone)).toEqual(['Forgot something? https://shop.example/recover']);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: before.balance - 2, reserved: 0 });
  });

  it('the checkout completed (checkouts/update) while the one-run send decides: nothing is sent, the run exits order_placed', async () => {
    const shop = await shopFor();
    const flow = await cartFlow(shop);
    const t0 = new Date(Date.UTC(2027, 1, 3, 16));
    const ann = await createContact(env.db, shop.id);
    const { token, runId } = await cartRun(shop, flow, ann, t0);
    const before = await wallet(env.db, shop.id);

    const step = await heldOpen(completeCheckout(shop, token, new Date(t0.getTime() + 30 * minute)), () => tick(new Date(t0.getTime() + 60 * minute)));
    expect(step.get(runId)).toEqual({ kind: 'exited', reason: 'order_placed', message: 'done' });
    expect(await run(runId)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(textsTo(ann.phone)).toEqual([]);
    expect(await messages(runId)).toEqual([]);
    expect(await wallet(env.db, shop.id)).toEqual(before);
  });

  it('the checkout completed while the batched send decides: that run is left out and ends order_placed, the other is sent', async () => {
    const shop = await shopFor();
    const flow = await cartFlow(shop);
    const t0 = new Date(Date.UTC(2027, 1, 4, 16));
    const [ann, bob] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const completed = await cartRun(shop, flow, ann, t0);
    const idle = await cartRun(shop, flow, bob, t0);
    const before = await wallet(env.db, shop.id);

    const outcomes = await heldOpen(completeCheckout(shop, completed.token, new Date(t0.getTime() + 30 * minute)), () => tick(new Date(t0.getTime() + 60 * minute)));
    expect(outcomes.get(completed.runId)).toEqual({ kind: 'exited', reason: 'order_placed' });
    expect(outcomes.get(idle.runId)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(textsTo(ann.phone)).toEqual([]);
    expect(await messages(completed.runId)).toEqual([]);
    expect(textsTo(bob.phone)).toEqual(['Forgot something? https://shop.example/recover']);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: before.balance - 1, reserved: 0 });
  });

  // A hasOrderedSinceTrigger condition sends nothing itself, but what it decides does: "has not
  // ordered" goes on to a reminder (with the version's orderPlaced exit off, no later step
  // looks at the order again), "has ordered" to the buyers' steps. It decides under the same
  // locks as a send (order-placed-since.ts runOrderFacts).
  const stillThinking = [
    { type: 'condition', check: { kind: 'hasOrderedSinceTrigger', is: false }, otherwise: 'exit' },
    { type: 'send', body: 'Still thinking it over? {{checkoutUrl}}' },
  ];

  it('an order committing while a hasOrderedSinceTrigger condition decides: it waits for the order and sees it; the reminder after it never goes', async () => {
    const shop = await shopFor();
    // The exit condition off: only the condition keeps a buyer from the reminder.
    const flow = await cartFlow(shop, stillThinking, { orderPlaced: false });
    const t0 = new Date(Date.UTC(2027, 1, 5, 16));
    const ann = await createContact(env.db, shop.id);
    const { runId } = await cartRun(shop, flow, ann, t0);
    const before = await wallet(env.db, shop.id);

    const step = await heldOpen(placeOrder(shop, ann, new Date(t0.getTime() + 30 * minute)), () => tick(new Date(t0.getTime() + 60 * minute)));
    expect(step.get(runId)).toEqual({ kind: 'exited', reason: 'condition' });
    expect(await run(runId)).toMatchObject({ status: 'exited', exit_reason: 'condition' });
    // Nothing left to send.
    expect((await tick(new Date(t0.getTime() + 61 * minute))).get(runId)).toBeUndefined();
    expect(textsTo(ann.phone)).toEqual([]);
    expect(await messages(runId)).toEqual([]);
    expect(await wallet(env.db, shop.id)).toEqual(before);
  });

  it('an order committing while a hasOrderedSinceTrigger condition decides with its default exit: the run ends order_placed there', async () => {
    const shop = await shopFor();
    const flow = await cartFlow(shop, stillThinking);
    const t0 = new Date(Date.UTC(2027, 1, 6, 16));
    const ann = await createContact(env.db, shop.id);
    const { runId } = await cartRun(shop, flow, ann, t0);

    const step = await heldOpen(placeOrder(shop, ann, new Date(t0.getTime() + 30 * minute)), () => tick(new Date(t0.getTime() + 60 * minute)));
    expect(step.get(runId)).toEqual({ kind: 'exited', reason: 'order_placed' });
    expect(await run(runId)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(textsTo(ann.phone)).toEqual([]);
  });

  it("an order committing while a branching condition decides: the buyer takes the buyers' branch, not the jump to the reminder", async () => {
    const shop = await shopFor();
    const steps = [
      { type: 'condition', check: { kind: 'hasOrderedSinceTrigger', is: true }, otherwise: { goTo: 2 } },
      { type: 'send', body: 'Thanks for your order!' },
      { type: 'condition', check: { kind: 'hasOrderedSinceTrigger', is: false }, otherwise: 'exit' },
      { type: 'send', body: 'Forgot something? {{checkoutUrl}}' },
    ];
    const flow = await cartFlow(shop, steps, { orderPlaced: false });
    const t0 = new Date(Date.UTC(2027, 1, 7, 16));
    const ann = await createContact(env.db, shop.id);
    const { runId } = await cartRun(shop, flow, ann, t0);
    const before = await wallet(env.db, shop.id);

    const at = (m: number) => new Date(t0.getTime() + m * minute);
    const step = await heldOpen(placeOrder(shop, ann, at(30)), () => tick(at(60)));
    expect(step.get(runId)).toEqual({ kind: 'advanced', step: 1, dueAt: at(60) });
    expect((await tick(at(61))).get(runId)).toMatchObject({ kind: 'advanced', step: 2, message: 'sent' });
    expect((await tick(at(62))).get(runId)).toEqual({ kind: 'exited', reason: 'condition' });
    expect(textsTo(ann.phone)).toEqual(['Thanks for your order!']);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: before.balance - 1, reserved: 0 });
  });

  it('a send that holds its locks first makes orders/create, the late link of an order and a completion wait until it commits', async () => {
    const shop = await shopFor();
    const flow = await cartFlow(shop);
    // Triggered an hour ago: a late link takes only orders of the last 24 hours (link-customer-orders.ts).
    const t0 = new Date(Date.now() - 60 * minute);
    const [ann, bob, cat] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const runs = [await cartRun(shop, flow, ann, t0), await cartRun(shop, flow, bob, t0), await cartRun(shop, flow, cat, t0)];
    // Bob's order came before his contact held his Shopify customer id: stored unlinked; customers/update links it.
    const bobCustomer = nextId();
    await env.db.$executeRaw`
      INSERT INTO shopify_orders (shop_id, order_id, customer_id, contact_id, total_minor, currency, ordered_at)
      VALUES (${shop.id}::uuid, ${nextId()}, ${bobCustomer}, NULL, 4200, 'USD', now())`;
    await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${bobCustomer} WHERE id = ${bob.id}::uuid`;

    // The send's transaction, holding what it locks while it decides (nothing placed yet).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let locked!: (ended: Set<string>) => void;
    const decided = new Promise<Set<string>>((r) => (locked = r));
    const sender = env.db.$transaction(async (tx) => {
      locked(await ordersPlacedSince(tx, runs.map((r) => ({ runId: r.runId, orderPlaced: true, checkout: true }))));
      await gate;
    }, { timeout: 60_000 });
    expect(await decided).toEqual(new Set());

    let done = 0;
    const writers = [
      env.db.$transaction(placeOrder(shop, ann, new Date(t0.getTime() + 30 * minute))),
      env.db.$transaction(async (tx) => {
        await lockShopifyCustomer(tx, shop.id, bobCustomer);
        expect((await linkCustomerOrders(tx, { shopId: shop.id, customerId: bobCustomer, traceId: null })).contactId).toBe(bob.id);
      }),
      env.db.$transaction(completeCheckout(shop, runs[2]!.token, new Date(t0.getTime() + 30 * minute))),
    ].map((w) => w.then(() => void done++));
    try {
      // Each writer waits on its row: the contact's summary, the contact's link lock, the checkout's upsert.
      await waitFor('the three writers waiting on the send', async () => {
        const [r] = await env.db.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        return r!.n >= 3;
      }, 10_000);
      expect(done).toBe(0);
    } finally {
      release();
      await sender;
    }
    await Promise.all(writers);
    expect(done).toBe(3);
    // Committed after the send: its next look at them sees all three.
    const after = await env.db.$transaction((tx) => ordersPlacedSince(tx, runs.map((r) => ({ runId: r.runId, orderPlaced: true, checkout: true }))));
    expect(after).toEqual(new Set(runs.map((r) => r.runId)));
    // Its runs (due now on the real clock) are held, out of the other tests' ticks.
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
  });
});
