import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, phoneHash, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { counterValue, postShopify, rid, webhookEvent } from '../webhooks';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { declareConsentSource } from '../../domain/consent/consent-source';
import { dispatchOutbox, flowTriggerParts, type OutboxRow } from '../../domain/outbox/outbox';
import { jobPayloadSchemas, type JobPayload } from '../../queue/payloads';
import { runFlowTrigger, type FlowTriggerOutcome } from '../../domain/flows/run-flow-trigger';
import type { Db } from '../../lib/db';
import { applyCustomerChunk } from '../../domain/shop-sync/apply-customer-chunk';
import type { SyncCustomer } from '../../domain/shop-sync/bulk-customer';

// Triggers → runs, end to end: signed Shopify webhooks through the inbox and
// the webhook worker, the consent record's outbox event or the webhook's own,
// the flows.trigger.v1 job on a real worker, the rows it leaves. Whatever is
// repeated (deliveries, outbox publishes, jobs), a (flow, contact, subject)
// gets at most one run, and a contact at most one welcome per flow.

interface RunRow {
  flow_id: string;
  version_id: string;
  contact_id: string;
  trigger_type: string;
  trigger_subject: string;
  status: string;
  current_step: number;
  next_due_at: Date;
  triggered_at: Date;
}

describe('flow triggers', () => {
  let env: TestEnv;
  let app: Express;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks', 'flows'] }));
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const api = {
    post: async (shop: ShopFixture, path: string, body: object = {}) =>
      request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body),
    patch: async (shop: ShopFixture, path: string, body: object) => request(app).patch(path).set('Authorization', await auth(shop)).send(body),
  };

  async function liveFlow(shop: ShopFixture, body: object): Promise<{ id: string; currentVersion: { id: string } }> {
    const created = await api.post(shop, '/api/flows', body);
    expect(created.status).toBe(201);
    const live = await api.post(shop, `/api/flows/${created.body.id}/activate`);
    expect(live.status).toBe(200);
    return created.body;
  }
  const welcomeFlow = (shop: ShopFixture) =>
    liveFlow(shop, { name: 'Welcome', trigger: { type: 'contact_subscribed' }, steps: [{ type: 'send', body: 'Welcome to {{shopName}}!' }, { type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Day two' }] });

  async function deliver(shop: ShopFixture, topic: string, body: Record<string, unknown>, webhookId = rid('wh')): Promise<number> {
    const res = await postShopify(app, topic, body, { shopDomain: shop.domain, webhookId });
    expect(res.status).toBe(200);
    await waitFor(`${topic} settled`, async () => ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
    return res.status;
  }

  const runsOf = (flowId: string) =>
    env.db.$queryRaw<RunRow[]>`
      SELECT flow_id, version_id, contact_id, trigger_type, trigger_subject, status, current_step, next_due_at, triggered_at
        FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY id`;
  const pendingTriggers = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shopId} AND published_at IS NULL`;
    return r!.n;
  };
  const triggerEvents = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shopId}`;
    return r!.n;
  };
  /** The outbox dispatcher's pass (a scheduler runs it every 5 s in production), until this shop's events are out. */
  async function drainOutbox(shopId: string): Promise<void> {
    await waitFor('flow trigger events published', async () => {
      await dispatchOutbox(env.db, worker.producer);
      return (await pendingTriggers(shopId)) === 0;
    });
  }
  /** Waits until the flows queue has nothing waiting or active. */
  async function flowsQueueIdle(): Promise<void> {
    const queue = worker.queues.all().find((q) => q.name === 'flows')!;
    await waitFor('flows queue idle', async () => {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    });
  }

  let customerSeq = 1;
  const customerId = (): number => Date.now() * 100 + customerSeq++;
  const iso = (offsetSec: number): string => new Date(Date.now() + offsetSec * 1000).toISOString();
  const customer = (id: number, phone: string, state: string, updatedAt: string) => ({
    id,
    phone,
    email: null,
    first_name: 'Grace',
    last_name: 'Hopper',
    updated_at: updatedAt,
    sms_marketing_consent: { state, opt_in_level: 'single_opt_in', consent_updated_at: updatedAt },
  });
  const contactByCustomer = async (shopId: string, id: number) => {
    const [c] = await env.db.$queryRaw<{ id: string; sms_consent: string }[]>`
      SELECT id, sms_consent FROM contacts WHERE shop_id = ${shopId}::uuid AND shopify_customer_id = ${String(id)}`;
    return c;
  };

  describe('contact subscribed', () => {
    it('a subscription delivered 10 times (retries, duplicates, resubscription, republished events, replayed jobs) starts one welcome run', async () => {
      const shop = await createShop(env.db);
      const flow = await welcomeFlow(shop);
      const id = customerId();
      const phone = testPhone();
      const body = customer(id, phone, 'subscribed', iso(0));
      const webhookId = rid('wh');
      const before = Date.now();
      // Shopify's retries of one delivery (same webhook id), resends of the same body, and later updates restating it.
      await deliver(shop, 'customers/create', body, webhookId);
      for (let i = 0; i < 3; i++) await postShopify(app, 'customers/create', body, { shopDomain: shop.domain, webhookId });
      for (let i = 0; i < 3; i++) await postShopify(app, 'customers/create', body, { shopDomain: shop.domain });
      for (let i = 1; i <= 3; i++) await deliver(shop, 'customers/update', customer(id, phone, 'subscribed', iso(i)));
      await drainOutbox(shop.id);
      await flowsQueueIdle();

      const contact = (await contactByCustomer(shop.id, id))!;
      const runs = await runsOf(flow.id);
      expect(runs).toHaveLength(1);
      const [record] = await env.db.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid AND state = 'subscribed' ORDER BY id LIMIT 1`;
      expect(runs[0]).toMatchObject({ contact_id: contact.id, version_id: flow.currentVersion.id, trigger_type: 'contact_subscribed', trigger_subject: record!.id, status: 'active', current_step: 0 });
      expect(runs[0]!.next_due_at.getTime()).toBeGreaterThanOrEqual(before - 1_000);
      expect(runs[0]!.next_due_at.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
      const startedMetric = await counterValue(worker.metrics, 'flowRunsStarted', { trigger: 'contact_subscribed' });
      expect(startedMetric).toBe(1);

      // Unsubscribe and subscribe again: a new consent record, still one welcome per contact and flow.
      await deliver(shop, 'customers/update', customer(id, phone, 'unsubscribed', iso(10)));
      await deliver(shop, 'customers/update', customer(id, phone, 'subscribed', iso(20)));
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      // Every event published again (a dispatcher that crashed before marking them) and every job run again by hand.
      await env.db.$executeRaw`UPDATE outbox_events SET published_at = NULL WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shop.id}`;
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      const events = await env.db.$queryRaw<{ payload: { recordIds: string[] } }[]>`
        SELECT payload FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shop.id} ORDER BY id`;
      expect(events.length).toBe(2);
      for (const e of events) {
        const again = await runFlowTrigger(env.db, { kind: 'contact_subscribed', shopId: shop.id, recordIds: e.payload.recordIds }, { traceId: 'test', now: new Date() });
        expect(again.started).toEqual([]);
      }
      expect(await runsOf(flow.id)).toHaveLength(1);
      expect(await counterValue(worker.metrics, 'flowRunsStarted', { trigger: 'contact_subscribed' })).toBe(startedMetric);
    });

    it('a contact subscribed through the API starts a run in every live welcome flow of its shop, none in a paused one or in another shop', async () => {
      const shop = await createShop(env.db);
      const other = await createShop(env.db);
      const a = await welcomeFlow(shop);
      const b = await welcomeFlow(shop);
      const paused = await welcomeFlow(shop);
      await api.post(shop, `/api/flows/${paused.id}/pause`);
      const elsewhere = await welcomeFlow(other);
      const res = await api.post(shop, '/api/contacts', { phone: testPhone(), smsConsent: 'subscribed' });
      expect(res.status).toBe(201);
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      expect((await runsOf(a.id)).map((r) => r.contact_id)).toEqual([res.body.id]);
      expect((await runsOf(b.id)).map((r) => r.contact_id)).toEqual([res.body.id]);
      expect(await runsOf(paused.id)).toEqual([]);
      expect(await runsOf(elsewhere.id)).toEqual([]);
    });

    it('ten trigger jobs for one subscription running at once start one run', async () => {
      const shop = await createShop(env.db);
      const flow = await welcomeFlow(shop);
      const contact = await createContact(env.db, shop.id, { consent: 'unsubscribed' });
      await env.db.$transaction(async (tx) => {
        await declareConsentSource(tx, { source: 'api' });
        await tx.$executeRaw`UPDATE contacts SET sms_consent = 'subscribed' WHERE id = ${contact.id}::uuid`;
      });
      const [record] = await env.db.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid AND state = 'subscribed'`;
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () => runFlowTrigger(env.db, { kind: 'contact_subscribed', shopId: shop.id, recordIds: [record!.id] }, { traceId: 'race', now: new Date() })),
      );
      expect(outcomes.reduce((n, o) => n + o.started.length, 0)).toBe(1);
      expect(await runsOf(flow.id)).toHaveLength(1);
    });

    it('an import statement subscribing 1 500 contacts queues one event, published as two jobs, starting 1 500 runs', async () => {
      const shop = await createShop(env.db);
      const flow = await welcomeFlow(shop);
      await env.db.$transaction(async (tx) => {
        await declareConsentSource(tx, { source: 'import', evidence: { importId: 'bulk-test' } });
        await tx.$executeRaw`
          INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent)
          SELECT ${shop.id}::uuid, p, encode(sha256(p::bytea), 'hex'), 'subscribed'
            FROM generate_series(1, 1500) g, LATERAL (SELECT '+1201' || (5000000 + g)::text AS p) x`;
      });
      const events = await env.db.$queryRaw<{ id: bigint; n: number }[]>`
        SELECT id, jsonb_array_length(payload->'recordIds')::int AS n FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shop.id}`;
      expect(events.map((e) => e.n)).toEqual([1500]);
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      const queue = worker.queues.all().find((q) => q.name === 'flows')!;
      const jobs = await Promise.all([0, 1, 2].map((part) => queue.getJob(`flow-trigger-${events[0]!.id}-${part}`)));
      expect(jobs.map((j) => j?.data.recordIds.length ?? null)).toEqual([1000, 500, null]);
      const [n] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_runs WHERE flow_id = ${flow.id}::uuid`;
      expect(n!.n).toBe(1500);
    });

    it('a Shopify resync restating consent starts nothing and queues nothing, even when it subscribes a contact', async () => {
      const shop = await createShop(env.db);
      const flow = await welcomeFlow(shop);
      const existing = await createContact(env.db, shop.id, { consent: 'unsubscribed' });
      await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = '7001' WHERE id = ${existing.id}::uuid`;
      const newPhone = testPhone();
      const syncCustomer = (id: string, phone: string): SyncCustomer => ({
        customerId: id,
        phoneE164: phone,
        phoneHash: phoneHash(phone),
        phoneProblem: null,
        email: null,
        firstName: 'Synced',
        lastName: null,
        consent: 'subscribed',
        shopifyState: 'SUBSCRIBED',
        optInLevel: 'SINGLE_OPT_IN',
        consentCollectedFrom: 'SHOPIFY',
        consentUpdatedAt: iso(-3600),
        updatedAt: new Date(),
        tags: [],
        ordersCount: null,
        spentMinor: null,
        currency: null,
        lastOrderAt: null,
      });
      const before = await triggerEvents(shop.id);
      await env.db.$transaction((tx) =>
        applyCustomerChunk(tx, { shopId: shop.id, syncId: randomUUID(), customers: [syncCustomer('7001', existing.phone), syncCustomer('7002', newPhone)], fallbackUpdatedAt: new Date() }),
      );
      const [records] = await env.db.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM contact_consent_records WHERE shop_id = ${shop.id}::uuid AND state = 'subscribed' AND evidence ? 'syncId'`;
      expect(records!.n).toBe(2);
      expect(await triggerEvents(shop.id)).toBe(before);
      expect(await runsOf(flow.id)).toEqual([]);
    });

    it('editing a live welcome flow: the run in progress keeps version 1, the next subscriber starts on version 2', async () => {
      const shop = await createShop(env.db);
      const flow = await welcomeFlow(shop);
      const first = await api.post(shop, '/api/contacts', { phone: testPhone(), smsConsent: 'subscribed' });
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      const edited = await api.patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'wait', duration: { amount: 2, unit: 'hours' } }, { type: 'send', body: 'Welcome, v2' }] });
      expect(edited.body.currentVersion.version).toBe(2);
      const second = await api.post(shop, '/api/contacts', { phone: testPhone(), smsConsent: 'subscribed' });
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      const runs = await runsOf(flow.id);
      expect(runs.map((r) => [r.contact_id, r.version_id, r.current_step])).toEqual([
        [first.body.id, flow.currentVersion.id, 0],
        [second.body.id, edited.body.currentVersion.id, 1],
      ]);
      // Version 2 begins with a 2 h wait: folded into the first due time.
      expect(runs[1]!.next_due_at.getTime() - Date.now()).toBeGreaterThan(2 * 3600_000 - 60_000);
    });

    /** Subscribes an existing contact in the database, as a consent change does: its outbox event is written, not published. */
    async function subscribeUnpublished(shop: ShopFixture): Promise<{ contactId: string; job: JobPayload<'flows.trigger.v1'> }> {
      const contact = await createContact(env.db, shop.id, { consent: 'unsubscribed' });
      await env.db.$transaction(async (tx) => {
        await declareConsentSource(tx, { source: 'api' });
        await tx.$executeRaw`UPDATE contacts SET sms_consent = 'subscribed' WHERE id = ${contact.id}::uuid`;
      });
      const [row] = await env.db.$queryRaw<OutboxRow[]>`
        SELECT id, event_type, aggregate_id, payload, trace_id, available_at FROM outbox_events
         WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shop.id} AND payload->'recordIds' ?| ARRAY(
               SELECT id::text FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid)`;
      const [part] = flowTriggerParts(row!);
      return { contactId: contact.id, job: jobPayloadSchemas['flows.trigger.v1'].parse(part!.payload) };
    }
    const runJob = ({ traceId, outbox: _outbox, ...event }: JobPayload<'flows.trigger.v1'>, db: Db = env.db) => runFlowTrigger(db, event, { traceId, now: new Date() });
    /**
     * Runs the job with `between` committed once its reads are done, as it
     * opens the transaction that starts the runs (the race a live edit or a
     * pause can win in production). The database is the real one throughout.
     */
    async function runJobWithCommitBetween<T>(job: JobPayload<'flows.trigger.v1'>, between: () => Promise<T>): Promise<[FlowTriggerOutcome, T]> {
      let committed: Promise<T> | undefined;
      const db = new Proxy(env.db, {
        get(target, prop, receiver) {
          if (prop !== '$transaction') return Reflect.get(target, prop, receiver);
          return async (...args: Parameters<Db['$transaction']>) => {
            committed ??= between();
            await committed;
            return target.$transaction(...args);
          };
        },
      });
      const outcome = await runJob(job, db);
      return [outcome, await committed!];
    }

    it('a flow paused when a contact subscribes, or created after, starts no run for it when activated before the trigger job runs; a flow live throughout does', async () => {
      const shop = await createShop(env.db);
      const throughout = await welcomeFlow(shop);
      const pausedThen = await welcomeFlow(shop);
      const liveThenPaused = await welcomeFlow(shop);
      await api.post(shop, `/api/flows/${pausedThen.id}/pause`);
      const early = await subscribeUnpublished(shop);
      // Live when the contact subscribed, then paused and activated again: a new live period.
      await api.post(shop, `/api/flows/${liveThenPaused.id}/pause`);
      await api.post(shop, `/api/flows/${liveThenPaused.id}/activate`);
      await api.post(shop, `/api/flows/${pausedThen.id}/activate`);
      const createdAfter = await welcomeFlow(shop);
      expect(Object.keys(early.job.live ?? {}).sort()).toEqual([throughout.id, liveThenPaused.id].sort());

      const outcome = await runJob(early.job);
      expect(outcome.started.map((r) => r.flow_id)).toEqual([throughout.id]);
      for (const f of [pausedThen, liveThenPaused, createdAfter]) expect(await runsOf(f.id)).toEqual([]);

      // A contact subscribing now starts a run in every flow live now.
      const late = await subscribeUnpublished(shop);
      expect((await runJob(late.job)).started.map((r) => r.flow_id).sort()).toEqual([throughout.id, pausedThen.id, liveThenPaused.id, createdAfter.id].sort());
      // An event written before live periods existed (no `live`) is taken as it always was.
      const { live: _live, ...legacy } = early.job;
      expect((await runJob(legacy)).started.map((r) => r.flow_id).sort()).toEqual([pausedThen.id, liveThenPaused.id, createdAfter.id].sort());
    });

    it('an edit of a live flow committed while its trigger job runs starts the run on the new version instead of losing it', async () => {
      const shop = await createShop(env.db);
      const flow = await welcomeFlow(shop);
      const { contactId, job } = await subscribeUnpublished(shop);
      const [outcome, edited] = await runJobWithCommitBetween(job, () => api.patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'send', body: 'Welcome, v2' }] }));
      expect(edited.status).toBe(200);
      expect(outcome.started).toHaveLength(1);
      expect((await runsOf(flow.id)).map((r) => [r.contact_id, r.version_id])).toEqual([[contactId, edited.body.currentVersion.id]]);
    });

    it('a pause committed while a trigger job runs starts nothing in the paused flow', async () => {
      const shop = await createShop(env.db);
      const flow = await welcomeFlow(shop);
      const { job } = await subscribeUnpublished(shop);
      const [outcome, paused] = await runJobWithCommitBetween(job, () => api.post(shop, `/api/flows/${flow.id}/pause`));
      expect(outcome.started).toEqual([]);
      expect(paused.body.status).toBe('paused');
      expect(await runsOf(flow.id)).toEqual([]);
    });
  });

  describe('abandoned checkout', () => {
    const checkout = (token: string, o: { customerId: number; updatedAt: string; completedAt?: string | null }) => ({
      id: customerId(),
      token,
      cart_token: 'cart',
      email: 'buyer@example.test',
      created_at: o.updatedAt,
      updated_at: o.updatedAt,
      completed_at: o.completedAt ?? null,
      abandoned_checkout_url: `https://shop.example/checkouts/${token}/recover?key=k1`,
      phone: null,
      customer: { id: o.customerId, phone: null },
      line_items: [{ title: 'Tee', quantity: 1 }],
      total_price: '42.50',
      currency: 'USD',
    });
    const order = (id: number, custId: number) => ({
      id,
      order_number: 1001,
      created_at: iso(0),
      total_price: '42.50',
      currency: 'USD',
      customer: { id: custId, phone: null },
      landing_site: null,
      referring_site: null,
      source_name: 'web',
      discount_codes: [],
      line_items: [],
    });
    async function subscribedCustomer(shop: ShopFixture, o: { consent?: string } = {}): Promise<{ contactId: string; customerId: number }> {
      const contact = await createContact(env.db, shop.id, { consent: o.consent ?? 'subscribed' });
      const id = customerId();
      await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(id)} WHERE id = ${contact.id}::uuid`;
      return { contactId: contact.id, customerId: id };
    }
    const cartFlow = (shop: ShopFixture) => liveFlow(shop, { name: 'Cart', trigger: { type: 'checkout_abandoned' }, steps: [{ type: 'send', body: 'Still thinking? {{checkoutUrl}}' }] });

    it('an open checkout of a subscribed contact starts one run due 1 h after its last update, however often it is updated or delivered', async () => {
      const shop = await createShop(env.db);
      const flow = await cartFlow(shop);
      const { contactId, customerId: cust } = await subscribedCustomer(shop);
      const token = `tok${randomUUID().replace(/-/g, '')}`;
      const updatedAt = iso(-60);
      const body = checkout(token, { customerId: cust, updatedAt });
      const webhookId = rid('wh');
      await deliver(shop, 'checkouts/create', body, webhookId);
      await postShopify(app, 'checkouts/create', body, { shopDomain: shop.domain, webhookId });
      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      const first = await runsOf(flow.id);
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ contact_id: contactId, trigger_type: 'checkout_abandoned', trigger_subject: token, current_step: 0 });
      expect(first[0]!.next_due_at.getTime()).toBe(Date.parse(updatedAt) + 3600_000);
      expect(first[0]!.triggered_at.getTime()).toBe(Date.parse(updatedAt));

      // Still shopping: each update moves the reminder to 1 h after it (an older update delivered late moves nothing).
      const lastUpdate = iso(-20);
      await deliver(shop, 'checkouts/update', checkout(token, { customerId: cust, updatedAt: iso(-40) }));
      await deliver(shop, 'checkouts/update', checkout(token, { customerId: cust, updatedAt: lastUpdate }));
      await deliver(shop, 'checkouts/update', checkout(token, { customerId: cust, updatedAt: iso(-30) }));
      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      let runs = await runsOf(flow.id);
      expect(runs).toHaveLength(1);
      expect(runs[0]!.next_due_at.getTime()).toBe(Date.parse(lastUpdate) + 3600_000);
      expect(runs[0]!.triggered_at.getTime()).toBe(Date.parse(updatedAt));

      // Once the executor has claimed the run (attempt > 0), an update no longer moves it.
      await env.db.$executeRaw`UPDATE flow_runs SET attempt = 1 WHERE flow_id = ${flow.id}::uuid`;
      await deliver(shop, 'checkouts/update', checkout(token, { customerId: cust, updatedAt: iso(-5) }));
      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      runs = await runsOf(flow.id);
      expect(runs[0]!.next_due_at.getTime()).toBe(Date.parse(lastUpdate) + 3600_000);
      expect(await counterValue(worker.metrics, 'flowRunsStarted', { trigger: 'checkout_abandoned' })).toBe(1);
    });

    it('no run for a completed checkout, a checkout followed by an order, an unsubscribed contact, or while the flow is paused', async () => {
      const shop = await createShop(env.db);
      const flow = await cartFlow(shop);
      const buyer = await subscribedCustomer(shop);
      const completed = `done${randomUUID().replace(/-/g, '')}`;
      await deliver(shop, 'checkouts/create', checkout(completed, { customerId: buyer.customerId, updatedAt: iso(-30), completedAt: iso(-10) }));

      const unsubscribed = await subscribedCustomer(shop, { consent: 'unsubscribed' });
      await deliver(shop, 'checkouts/create', checkout(`uns${randomUUID().replace(/-/g, '')}`, { customerId: unsubscribed.customerId, updatedAt: iso(-30) }));

      // A checkout seen while the flow is paused queues nothing; the order arrives; an update after resuming starts nothing.
      await api.post(shop, `/api/flows/${flow.id}/pause`);
      const ordered = await subscribedCustomer(shop);
      const token = `ord${randomUUID().replace(/-/g, '')}`;
      await deliver(shop, 'checkouts/create', checkout(token, { customerId: ordered.customerId, updatedAt: iso(-120) }));
      expect(await triggerEvents(shop.id)).toBe(1);
      await deliver(shop, 'orders/create', order(customerId(), ordered.customerId));
      await api.post(shop, `/api/flows/${flow.id}/activate`);
      await deliver(shop, 'checkouts/update', checkout(token, { customerId: ordered.customerId, updatedAt: iso(-60) }));

      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      expect(await runsOf(flow.id)).toEqual([]);
    });
    it('a checkout followed only by a test order or by an order cancelled since still starts its run', async () => {
      const shop = await createShop(env.db);
      const flow = await cartFlow(shop);
      const tester = await subscribedCustomer(shop);
      const testToken = `tst${randomUUID().replace(/-/g, '')}`;
      const canceller = await subscribedCustomer(shop);
      const cancelToken = `cnc${randomUUID().replace(/-/g, '')}`;
      // Paused while the checkouts and orders arrive, so each trigger job reads them all when the update after resuming queues it.
      await api.post(shop, `/api/flows/${flow.id}/pause`);
      await deliver(shop, 'checkouts/create', checkout(testToken, { customerId: tester.customerId, updatedAt: iso(-120) }));
      await deliver(shop, 'checkouts/create', checkout(cancelToken, { customerId: canceller.customerId, updatedAt: iso(-120) }));
      await deliver(shop, 'orders/create', { ...order(customerId(), tester.customerId), test: true });
      const cancelled = order(customerId(), canceller.customerId);
      await deliver(shop, 'orders/create', cancelled);
      await deliver(shop, 'orders/cancelled', { ...cancelled, cancelled_at: iso(0) });
      await api.post(shop, `/api/flows/${flow.id}/activate`);
      await deliver(shop, 'checkouts/update', checkout(testToken, { customerId: tester.customerId, updatedAt: iso(-60) }));
      await deliver(shop, 'checkouts/update', checkout(cancelToken, { customerId: canceller.customerId, updatedAt: iso(-60) }));

      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      const runs = await runsOf(flow.id);
      expect(runs.map((r) => [r.contact_id, r.trigger_subject]).sort()).toEqual([[tester.contactId, testToken], [canceller.contactId, cancelToken]].sort());
    });
  });

  describe('order created', () => {
    it('an order of a subscribed contact starts one post-purchase run, whatever is redelivered', async () => {
      const shop = await createShop(env.db);
      const flow = await liveFlow(shop, {
        name: 'Thanks',
        trigger: { type: 'order_created' },
        steps: [{ type: 'wait', untilLocalTime: { from: '10:00', to: '20:00' } }, { type: 'send', body: 'Thanks for your order, {{firstName}}!' }],
      });
      const contact = await createContact(env.db, shop.id, { phone: '+442071838750' });
      const cust = customerId();
      await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(cust)} WHERE id = ${contact.id}::uuid`;
      const orderId = customerId();
      const body = {
        id: orderId,
        order_number: 1002,
        created_at: iso(0),
        total_price: '10.00',
        currency: 'GBP',
        customer: { id: cust, phone: null },
        landing_site: null,
        referring_site: null,
        source_name: 'web',
        discount_codes: [],
        line_items: [],
      };
      const webhookId = rid('wh');
      await deliver(shop, 'orders/create', body, webhookId);
      await postShopify(app, 'orders/create', body, { shopDomain: shop.domain, webhookId });
      await postShopify(app, 'orders/create', body, { shopDomain: shop.domain });
      await deliver(shop, 'orders/create', { ...body, note: 'resent with a change' });
      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      const again = await runFlowTrigger(env.db, { kind: 'order_created', shopId: shop.id, orderId: String(orderId) }, { traceId: 'test', now: new Date() });
      expect(again.started).toEqual([]);

      const runs = await runsOf(flow.id);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ contact_id: contact.id, trigger_type: 'order_created', trigger_subject: String(orderId), current_step: 1 });
      // Due inside 10:00–20:00 London time (a UK number), now if already inside.
      const london = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: '2-digit', hourCycle: 'h23' }).format(runs[0]!.next_due_at));
      expect(london).toBeGreaterThanOrEqual(10);
      expect(london).toBeLessThan(20);
      expect(runs[0]!.next_due_at.getTime()).toBeLessThanOrEqual(Date.now() + 24 * 3600_000);
    });

    it('an order created already cancelled starts no post-purchase run', async () => {
      const shop = await createShop(env.db);
      const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
      const contact = await createContact(env.db, shop.id);
      const cust = customerId();
      await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(cust)} WHERE id = ${contact.id}::uuid`;
      const base = { order_number: 1, total_price: '1.00', currency: 'USD', landing_site: null, referring_site: null, source_name: 'web', discount_codes: [], line_items: [] };
      const placed = customerId();
      await deliver(shop, 'orders/create', { ...base, id: customerId(), created_at: iso(0), cancelled_at: iso(0), customer: { id: cust, phone: null } });
      await deliver(shop, 'orders/create', { ...base, id: placed, created_at: iso(0), customer: { id: cust, phone: null } });
      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      expect((await runsOf(flow.id)).map((r) => r.trigger_subject)).toEqual([String(placed)]);
    });

    it('an order of an unknown customer or an unsubscribed contact starts nothing', async () => {
      const shop = await createShop(env.db);
      const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
      const unsubscribed = await createContact(env.db, shop.id, { consent: 'unsubscribed' });
      const cust = customerId();
      await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(cust)} WHERE id = ${unsubscribed.id}::uuid`;
      const base = { order_number: 1, created_at: iso(0), total_price: '1.00', currency: 'USD', landing_site: null, referring_site: null, source_name: 'web', discount_codes: [], line_items: [] };
      await deliver(shop, 'orders/create', { ...base, id: customerId(), customer: { id: cust, phone: null } });
      await deliver(shop, 'orders/create', { ...base, id: customerId(), customer: { id: customerId(), phone: null } });
      await flowsQueueIdle();
      await drainOutbox(shop.id);
      await flowsQueueIdle();
      expect(await runsOf(flow.id)).toEqual([]);
    });
  });
});
