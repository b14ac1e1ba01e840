import v8 from 'node:v8';
import vm from 'node:vm';
import type { Express } from 'express';
import request from 'supertest';
import type { ApiDeps } from '../apps/api/src/deps';
import type { WorkerDeps } from '../apps/worker/src/deps';
import { dispatchOutbox } from '../domain/outbox/outbox';
import { runReconciliation } from '../domain/reconciliation/run-reconciliation';
import { jobIds } from '../queue/job-ids';
import { runOps } from '../scripts/ops/cli';
import { testPhone } from './factories';
import { startFakeShopify, type FakeCustomer, type FakeShopify } from './fakes/shopify-server';
import { createTestEnv, type TestEnv } from './harness';
import { waitFor } from './sending';
import { sessionToken } from './session-token';
import { installShop } from './shopify';
import { counterValue, postShopify, webhookEvent } from './webhooks';

// The initial customer sync and resyncs against the fake Shopify over HTTP,
// with real Postgres, Redis and workers: started by the install, Shopify's
// bulk export learnt finished by its webhook or by polling, the JSONL result
// streamed into contacts in chunks (resumed after a cut download), consent
// mapped without ever lifting a local opt-out, failures reported.

interface SyncView {
  id: string;
  status: string;
  reason: string;
  counts: Record<string, number>;
  exportFinishedVia: string | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

describe('Shopify customer sync', () => {
  let fake: FakeShopify;
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let worker: WorkerDeps;
  let seq = 0;
  let customerNo = 5_000_000;

  beforeAll(async () => {
    fake = await startFakeShopify();
    env = await createTestEnv({
      SHOPIFY_INSTALL_BY_EXCHANGE: 'true',
      SHOPIFY_SYNC_ON_INSTALL: 'true',
      SHOPIFY_ADMIN_API_BASE: fake.url,
      SHOP_CACHE_TTL_MS: '0',
    });
    ({ app, deps: api } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['shopify', 'webhooks'] }));
  });

  afterAll(async () => {
    await env?.close();
    await fake?.close();
  });

  beforeEach(() => {
    fake.bulkPolls = 1;
    fake.answersNode = true;
  });

  const newDomain = () => `sync-${Date.now()}-${seq++}.myshopify.com`;
  const customer = (o: Partial<FakeCustomer> = {}): FakeCustomer => ({
    id: `gid://shopify/Customer/${customerNo++}`,
    firstName: 'Ada',
    lastName: 'Lovelace',
    email: `ada${customerNo}@example.com`,
    phone: testPhone(),
    tags: ['VIP', 'newsletter'],
    updatedAt: new Date(Date.now() - 60_000).toISOString(),
    numberOfOrders: '3',
    amountSpent: { amount: '120.50', currencyCode: 'USD' },
    lastOrder: { createdAt: '2026-11-20T10:00:00Z' },
    smsMarketingConsent: { marketingState: 'SUBSCRIBED', marketingOptInLevel: 'SINGLE_OPT_IN', consentUpdatedAt: '2026-10-01T12:00:00Z', consentCollectedFrom: 'SHOPIFY' },
    ...o,
  });
  const auth = async (domain: string) => `Bearer ${await sessionToken(domain)}`;
  const getSync = async (domain: string) => request(app).get('/api/shop/sync').set('Authorization', await auth(domain));
  const syncRow = async (shopId: string) =>
    (await env.db.$queryRaw<{ id: string; status: string; bulk_operation_id: string | null; bulk_finished_via: string | null; polls: number; throttled_waits: number; lines_applied: bigint; customers_seen: number; error: string | null }[]>`
      SELECT id, status, bulk_operation_id, bulk_finished_via, polls, throttled_waits, lines_applied, customers_seen, error
        FROM shop_syncs WHERE shop_id = ${shopId}::uuid ORDER BY created_at DESC LIMIT 1`)[0];
  async function ended(shopId: string, timeoutMs = 60_000): Promise<NonNullable<Awaited<ReturnType<typeof syncRow>>>> {
    await waitFor('sync ended', async () => {
      // The outbox dispatcher's pass (a scheduler in a deployed worker).
      await dispatchOutbox(env.db, api.producer);
      const s = await syncRow(shopId);
      return s?.status === 'completed' || s?.status === 'failed';
    }, timeoutMs, 100);
    return (await syncRow(shopId))!;
  }
  const contactsOf = (shopId: string) =>
    env.db.$queryRaw<{ phone_e164: string; sms_consent: string; opt_out_source: string | null; shopify_customer_id: string | null; first_name: string | null; tags: string[]; orders_count: number; amount_spent_minor: bigint; last_order_at: Date | null }[]>`
      SELECT phone_e164, sms_consent, opt_out_source, shopify_customer_id, first_name, tags, orders_count, amount_spent_minor, last_order_at
        FROM contacts WHERE shop_id = ${shopId}::uuid ORDER BY phone_e164`;

  it('install starts the sync; it completes by the bulk_operations/finish webhook when polling is not coming back', async () => {
    const domain = newDomain();
    fake.bulkPolls = 1_000_000;
    const customers = [customer(), customer(), customer({ phone: null })];
    fake.seedCustomers(domain, customers);
    const shopId = await installShop(app, env.db, domain);

    await waitFor('export started', async () => {
      await dispatchOutbox(env.db, api.producer);
      return Boolean((await syncRow(shopId))?.bulk_operation_id);
    });
    const running = await getSync(domain);
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ status: 'running', reason: 'install', finishedAt: null });
    // The poll waiting in the queue never comes back: only the webhook can end this export.
    await waitFor('first poll', async () => ((await syncRow(shopId))?.polls ?? 0) >= 1);
    const queue = worker.queues.get('shopify');
    await waitFor('poll delayed', async () => (await queue.getJob(jobIds.shopSync(running.body.id)))?.isDelayed() ?? false);
    await (await queue.getJob(jobIds.shopSync(running.body.id)))!.remove();

    const op = fake.completeBulkOperation((await syncRow(shopId))!.bulk_operation_id!);
    const res = await postShopify(app, 'bulk_operations/finish', fake.bulkFinishWebhook(op), { shopDomain: domain, webhookId: `bulk-${op.id}` });
    expect(res.status).toBe(200);
    const done = await ended(shopId);
    expect(done).toMatchObject({ status: 'completed', bulk_finished_via: 'webhook', customers_seen: 3, lines_applied: 3n });

    const view = (await getSync(domain)).body as SyncView;
    expect(view).toMatchObject({ status: 'completed', exportFinishedVia: 'webhook', error: null });
    expect(view.counts).toEqual({ customersSeen: 3, contactsCreated: 2, contactsUpdated: 0, contactsUnchanged: 0, skippedNoPhone: 1, invalidPhone: 0, subscribed: 2, optedOut: 0 });
    expect(view.finishedAt).not.toBeNull();
    const contacts = await contactsOf(shopId);
    expect(contacts).toHaveLength(2);
    expect(contacts.every((c) => c.sms_consent === 'subscribed' && c.first_name === 'Ada')).toBe(true);

    // The same webhook again (a redelivery: the inbox keeps one) and a poll learning it late change nothing.
    expect((await postShopify(app, 'bulk_operations/finish', fake.bulkFinishWebhook(op), { shopDomain: domain })).status).toBe(200);
    expect((await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM webhook_events WHERE topic = 'bulk_operations/finish' AND shop_id = ${shopId}::uuid`)[0]!.n).toBe(1);
    await queue.add('shop.sync.v1', { traceId: 'late-poll', syncId: running.body.id, shopId }, { jobId: `late-poll-${running.body.id}` });
    await waitFor('late poll ran', async () => (await queue.getJob(`late-poll-${running.body.id}`))?.isCompleted() ?? false);
    expect(await syncRow(shopId)).toMatchObject({ status: 'completed', bulk_finished_via: 'webhook', customers_seen: 3, lines_applied: 3n });
    expect(await contactsOf(shopId)).toHaveLength(2);
  });

  it('completes by polling (with backoff) when the webhook never comes; the late webhook is ignored', async () => {
    const domain = newDomain();
    fake.bulkPolls = 2;
    fake.seedCustomers(domain, [customer(), customer()]);
    const shopId = await installShop(app, env.db, domain);
    const done = await ended(shopId);
    expect(done).toMatchObject({ status: 'completed', bulk_finished_via: 'poll', customers_seen: 2 });
    expect(done.polls).toBeGreaterThanOrEqual(1);
    const op = fake.bulkOperations.find((o) => o.id === done.bulk_operation_id)!;
    const webhookId = `late-${op.id}-${seq++}`;
    expect((await postShopify(app, 'bulk_operations/finish', fake.bulkFinishWebhook(op), { shopDomain: domain, webhookId })).status).toBe(200);
    await waitFor('late webhook ignored', async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status === 'ignored');
    expect(await contactsOf(shopId)).toHaveLength(2);
  });

  it('a Shopify that does not answer node(id) is followed through currentBulkOperation', async () => {
    const domain = newDomain();
    fake.answersNode = false;
    fake.bulkPolls = 2;
    fake.seedCustomers(domain, [customer(), customer({ phone: null })]);
    const shopId = await installShop(app, env.db, domain);
    const done = await ended(shopId);
    expect(done).toMatchObject({ status: 'completed', bulk_finished_via: 'poll', customers_seen: 2 });
    expect(fake.graphqlCalls.some((c) => c.shop === domain && /currentBulkOperation/.test(c.query))).toBe(true);
  });

  it('a resync while one runs returns the running one (200); once ended, a resync starts a new one (202); Idempotency-Key replays', async () => {
    const domain = newDomain();
    fake.bulkPolls = 1_000_000;
    fake.seedCustomers(domain, [customer()]);
    const shopId = await installShop(app, env.db, domain);
    const first = (await getSync(domain)).body as SyncView;

    const again = await request(app).post('/api/shop/sync').set('Authorization', await auth(domain)).send({});
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.id);
    expect((await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM shop_syncs WHERE shop_id = ${shopId}::uuid`)[0]!.n).toBe(1);

    await waitFor('export started', async () => Boolean((await syncRow(shopId))?.bulk_operation_id));
    const op = fake.completeBulkOperation((await syncRow(shopId))!.bulk_operation_id!);
    await postShopify(app, 'bulk_operations/finish', fake.bulkFinishWebhook(op), { shopDomain: domain });
    await ended(shopId);

    fake.bulkPolls = 1;
    const key = `resync-${seq++}`;
    const resync = await request(app).post('/api/shop/sync').set('Authorization', await auth(domain)).set('Idempotency-Key', key).send({});
    expect(resync.status).toBe(202);
    expect(resync.headers.location).toBe('/api/shop/sync');
    expect(resync.body).toMatchObject({ reason: 'resync', status: 'queued' });
    expect(resync.body.id).not.toBe(first.id);
    const replay = await request(app).post('/api/shop/sync').set('Authorization', await auth(domain)).set('Idempotency-Key', key).send({});
    expect(replay.status).toBe(202);
    expect(replay.body.id).toBe(resync.body.id);
    const done = await ended(shopId);
    expect(done.id).toBe(resync.body.id);
    // The same customer, unchanged in Shopify: nothing rewritten.
    expect((await getSync(domain)).body.counts).toMatchObject({ customersSeen: 1, contactsCreated: 0, contactsUpdated: 0, contactsUnchanged: 1 });
    expect(await contactsOf(shopId)).toHaveLength(1);
  });

  it('the install starts one sync; a token re-exchanged after a 401 is no install', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    await ended(shopId);
    fake.revokeTokens(domain);
    await env.db.$executeRaw`UPDATE shop_access_tokens SET ciphertext = NULL WHERE shop_id = ${shopId}::uuid`;
    const exchanges = fake.exchanges.filter((e) => e.shop === domain).length;
    expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
    await waitFor('re-exchange', () => fake.exchanges.filter((e) => e.shop === domain).length === exchanges + 1);
    expect((await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM shop_syncs WHERE shop_id = ${shopId}::uuid`)[0]!.n).toBe(1);

    // A shop that never had a sync (installed before syncs existed): 404 in the error shape.
    await env.db.$executeRaw`DELETE FROM shop_syncs WHERE shop_id = ${shopId}::uuid`;
    const none = await getSync(domain);
    expect(none.status).toBe(404);
    expect(none.body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('an uninstall fails the open sync; the re-install starts a resync', async () => {
    const domain = newDomain();
    fake.bulkPolls = 1_000_000;
    fake.seedCustomers(domain, [customer()]);
    const shopId = await installShop(app, env.db, domain);
    await waitFor('export started', async () => Boolean((await syncRow(shopId))?.bulk_operation_id));
    const uninstalled = await postShopify(app, 'app/uninstalled', { id: 1, myshopify_domain: domain }, { shopDomain: domain });
    expect(uninstalled.status).toBe(200);
    await waitFor('sync failed', async () => (await syncRow(shopId))?.status === 'failed');
    expect((await syncRow(shopId))!.error).toBe('The app was uninstalled during the sync');
    // Shopify ends the export on its own; the re-install's sync runs its own.
    fake.completeBulkOperation((await syncRow(shopId))!.bulk_operation_id!);

    fake.bulkPolls = 1;
    expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
    const done = await ended(shopId);
    expect(done).toMatchObject({ status: 'completed', customers_seen: 1 });
    expect((await getSync(domain)).body).toMatchObject({ reason: 'resync', status: 'completed' });
  });

  it('consent mapping: SUBSCRIBED sendable, PENDING and NOT_SUBSCRIBED never, UNSUBSCRIBED/REDACTED opted out; a local opt-out is never lifted', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    await ended(shopId);
    const phones = Array.from({ length: 9 }, () => testPhone());
    // Contacts that exist here already: opted out by a STOP, by the merchant (api), by an import, and by Shopify itself.
    for (const [i, source] of (['keyword', 'api', 'import', 'shopify'] as const).entries()) {
      await env.db.$executeRaw`
        INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent, opted_out_at, opt_out_source)
        VALUES (${shopId}::uuid, ${phones[i]!}, encode(sha256(convert_to(${phones[i]!}, 'UTF8')), 'hex'), 'unsubscribed', now(), ${source})`;
    }
    const states = ['SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'PENDING', 'NOT_SUBSCRIBED', 'UNSUBSCRIBED', 'REDACTED'] as const;
    const seeded = states.map((marketingState, i) =>
      customer({ phone: phones[i]!, smsMarketingConsent: { marketingState, marketingOptInLevel: 'SINGLE_OPT_IN', consentUpdatedAt: '2026-09-0' + (1 + (i % 9)) + 'T08:00:00Z', consentCollectedFrom: 'OTHER' } }),
    );
    fake.seedCustomers(domain, [...seeded, customer({ phone: 'call me maybe' }), customer({ phone: null })]);
    const resync = await request(app).post('/api/shop/sync').set('Authorization', await auth(domain)).send({});
    expect(resync.status).toBe(202);
    const done = await ended(shopId);
    expect(done.status).toBe('completed');

    const byPhone = new Map((await contactsOf(shopId)).map((c) => [c.phone_e164, c]));
    const state = (i: number) => [byPhone.get(phones[i]!)?.sms_consent, byPhone.get(phones[i]!)?.opt_out_source];
    expect(state(0)).toEqual(['unsubscribed', 'keyword']); // a STOP is never lifted
    expect(state(1)).toEqual(['unsubscribed', 'api']); // nor the merchant's opt-out
    expect(state(2)).toEqual(['unsubscribed', 'import']);
    expect(state(3)).toEqual(['subscribed', null]); // Shopify may clear its own opt-out
    expect(state(4)).toEqual(['subscribed', null]);
    expect(state(5)).toEqual(['pending', null]);
    expect(state(6)).toEqual(['pending', null]);
    expect(state(7)).toEqual(['unsubscribed', 'shopify']);
    expect(state(8)).toEqual(['unsubscribed', 'shopify']);
    // Every number is linked to its customer (by the numeric id webhooks carry, not the export's GraphQL id), with its order summary and tags.
    const linked = byPhone.get(phones[4]!)!;
    expect(linked).toMatchObject({ shopify_customer_id: seeded[4]!.id!.replace('gid://shopify/Customer/', ''), orders_count: 3, amount_spent_minor: 12050n, tags: ['vip', 'newsletter'] });
    expect(linked.last_order_at?.toISOString()).toBe('2026-11-20T10:00:00.000Z');

    const view = (await getSync(domain)).body as SyncView;
    expect(view.counts).toEqual({ customersSeen: 11, contactsCreated: 5, contactsUpdated: 4, contactsUnchanged: 0, skippedNoPhone: 1, invalidPhone: 1, subscribed: 5, optedOut: 2 });

    // The consent record tells a sync apart (source shopify, evidence syncId) and keeps Shopify's time; nothing is written back.
    const records = await env.db.$queryRaw<{ state: string; source: string; evidence: Record<string, unknown>; collected_at: Date }[]>`
      SELECT r.state, r.source, r.evidence, r.collected_at FROM contact_consent_records r JOIN contacts c ON c.id = r.contact_id
       WHERE c.shop_id = ${shopId}::uuid AND c.phone_e164 = ${phones[7]!}`;
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ state: 'unsubscribed', source: 'shopify', evidence: expect.objectContaining({ syncId: done.id, shopifyCustomerId: seeded[7]!.id!.replace('gid://shopify/Customer/', ''), shopifyState: 'UNSUBSCRIBED' }) });
    expect(records[0]!.collected_at.toISOString()).toBe('2026-09-08T08:00:00.000Z');
    expect((await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM shopify_consent_writebacks WHERE shop_id = ${shopId}::uuid`)[0]!.n).toBe(0);
    expect((await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM contact_consent_records r JOIN contacts c ON c.id = r.contact_id
       WHERE c.shop_id = ${shopId}::uuid AND c.phone_e164 = ${phones[0]!}`)[0]!.n).toBe(0);
  });

  it('10 000 customers are streamed in chunks; a download cut mid-way resumes from the cursor without counting twice (heap printed)', async () => {
    const domain = newDomain();
    const states = ['SUBSCRIBED', 'NOT_SUBSCRIBED', 'UNSUBSCRIBED', 'PENDING'] as const;
    fake.seedCustomers(domain, (i) => customer({ phone: i % 50 === 49 ? null : testPhone(), smsMarketingConsent: { marketingState: states[i % 4]!, marketingOptInLevel: null, consentUpdatedAt: null, consentCollectedFrom: null } }), 10_000);
    fake.cutNextDownload({ shop: domain, afterLines: 4_321 });
    // What the process keeps (heap after a full collection), sampled while the sync runs: garbage between collections says nothing.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const retained = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const before = retained();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, retained())), 1_000);
    const created = await counterValue(worker.metrics, 'shopifySyncCustomers', { outcome: 'created' });
    const started = Date.now();
    const shopId = await installShop(app, env.db, domain);
    let done;
    try {
      done = await ended(shopId, 180_000);
    } finally {
      clearInterval(sampler);
    }
    // Figures for the record, not assertions: the worker shares this process with the fake and the test.
    process.stdout.write(`shopify sync of 10 000 customers: ${Date.now() - started} ms; heap retained after GC: before ${(before / 1e6).toFixed(1)} MB, highest while syncing ${(peak / 1e6).toFixed(1)} MB (+${((peak - before) / 1e6).toFixed(1)} MB)\n`);
    expect(done).toMatchObject({ status: 'completed', lines_applied: 10_000n, customers_seen: 10_000 });
    expect(fake.downloads.get(done.bulk_operation_id!)).toBe(2);
    const view = (await getSync(domain)).body as SyncView;
    expect(view.counts).toEqual({ customersSeen: 10_000, contactsCreated: 9_800, contactsUpdated: 0, contactsUnchanged: 0, skippedNoPhone: 200, invalidPhone: 0, subscribed: 2_500, optedOut: 2_500 });
    const sendable = await env.db.$queryRaw<{ state: string; n: number }[]>`
      SELECT sms_consent AS state, count(*)::int AS n FROM contacts WHERE shop_id = ${shopId}::uuid GROUP BY 1 ORDER BY 1`;
    expect(sendable).toEqual([{ state: 'pending', n: 4_800 }, { state: 'subscribed', n: 2_500 }, { state: 'unsubscribed', n: 2_500 }]);
    expect(await counterValue(worker.metrics, 'shopifySyncCustomers', { outcome: 'created' })).toBe(created + 9_800);
  }, 240_000);

  it('throttling (THROTTLED and 429) is waited out, then the sync completes', async () => {
    const domain = newDomain();
    fake.seedCustomers(domain, [customer()]);
    // The install's exchange uses no GraphQL: the first Admin call of the sync meets the 429, the next THROTTLED.
    fake.failNext('rate_limited', { shop: domain });
    fake.failNext('throttled', { shop: domain });
    const shopId = await installShop(app, env.db, domain);
    const done = await ended(shopId);
    expect(done).toMatchObject({ status: 'completed', customers_seen: 1 });
    expect(done.throttled_waits).toBeGreaterThanOrEqual(1);
    const calls = fake.graphqlCalls.filter((c) => c.shop === domain);
    expect(calls.some((c) => c.status === 429)).toBe(true);
  });

  it('a FAILED bulk operation fails the sync with a clear error, shown at GET /api/shop/sync', async () => {
    const domain = newDomain();
    fake.seedCustomers(domain, [customer()]);
    fake.failNextBulkOperation({ shop: domain, errorCode: 'ACCESS_DENIED' });
    const failed = await counterValue(worker.metrics, 'shopifySyncs', { outcome: 'failed' });
    const shopId = await installShop(app, env.db, domain);
    const done = await ended(shopId);
    expect(done).toMatchObject({ status: 'failed', bulk_finished_via: 'poll' });
    const view = (await getSync(domain)).body as SyncView;
    expect(view.status).toBe('failed');
    expect(view.error).toMatch(/export ended FAILED \(ACCESS_DENIED\)/);
    expect(await contactsOf(shopId)).toHaveLength(0);
    expect(await counterValue(worker.metrics, 'shopifySyncs', { outcome: 'failed' })).toBe(failed + 1);

    // The on-call lists it and starts a resync through the signed API; a second start returns the running one.
    const server = app.listen(0);
    try {
      const apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const ops = async (...argv: string[]) => {
        const out: string[] = [];
        const code = await runOps([...argv, '--json'], { config: env.config, db: () => env.db, queues: () => api.queues, apiUrl, out: (t) => out.push(t) });
        return { code, data: JSON.parse(out.join('\n')) as unknown };
      };
      const listed = await ops('sync:list', '--failed', '--shop', shopId);
      expect(listed).toEqual({ code: 0, data: [expect.objectContaining({ id: done.id, status: 'failed', error: expect.stringContaining('ACCESS_DENIED') })] });
      fake.bulkPolls = 1_000_000;
      const first = await ops('sync:start', shopId);
      expect(first).toMatchObject({ code: 0, data: { created: true, sync: { reason: 'resync' } } });
      const second = await ops('sync:start', shopId);
      expect(second).toMatchObject({ code: 0, data: { created: false, sync: { id: (first.data as { sync: { id: string } }).sync.id } } });
    } finally {
      server.close();
    }
  });

  it('retries exhausted (Shopify 5xx on the last attempt) fail the sync with the error', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    await ended(shopId);
    // A resync whose job is on its last attempt (the job's own backoff would take minutes to get there).
    const [row] = await env.db.$queryRaw<{ id: string }[]>`INSERT INTO shop_syncs (shop_id, reason) VALUES (${shopId}::uuid, 'resync') RETURNING id`;
    fake.failNext('server_error', { shop: domain });
    await worker.queues.get('shopify').add('shop.sync.v1', { traceId: 'last-attempt', syncId: row!.id, shopId }, { jobId: `last-attempt-${row!.id}`, attempts: 1 });
    const done = await ended(shopId);
    expect(done).toMatchObject({ id: row!.id, status: 'failed', bulk_operation_id: null });
    const view = (await getSync(domain)).body as SyncView;
    expect(view).toMatchObject({ status: 'failed', error: expect.stringMatching(/^The sync gave up after repeated failures reaching Shopify: Shopify answered 500/) });
  });

  it('tenant isolation: a shop sees only its own sync; a webhook naming another shop\'s operation, or an unknown one, is ignored', async () => {
    const a = newDomain();
    const b = newDomain();
    fake.bulkPolls = 1_000_000;
    fake.seedCustomers(a, [customer()]);
    const shopA = await installShop(app, env.db, a);
    // A's export is created while the fake makes exports wait (only then is B's allowed to finish by itself).
    await waitFor('export started', async () => Boolean((await syncRow(shopA))?.bulk_operation_id));
    fake.bulkPolls = 1;
    const shopB = await installShop(app, env.db, b);
    await ended(shopB);
    const syncA = (await syncRow(shopA))!;
    const viewB = (await getSync(b)).body as SyncView;
    expect(viewB.id).not.toBe(syncA.id);
    expect(viewB.counts.customersSeen).toBe(0);

    // A's poll is taken out of the way, so only a webhook could end its export.
    const queue = worker.queues.get('shopify');
    await waitFor('poll delayed', async () => (await queue.getJob(jobIds.shopSync(syncA.id)))?.isDelayed() ?? false);
    await (await queue.getJob(jobIds.shopSync(syncA.id)))!.remove();
    const op = fake.completeBulkOperation(syncA.bulk_operation_id!);
    const misattributed = `mis-${seq++}`;
    await postShopify(app, 'bulk_operations/finish', fake.bulkFinishWebhook(op), { shopDomain: b, webhookId: misattributed });
    const unknown = `unknown-${seq++}`;
    await postShopify(app, 'bulk_operations/finish', { ...fake.bulkFinishWebhook(op), admin_graphql_api_id: 'gid://shopify/BulkOperation/999999999' }, { shopDomain: a, webhookId: unknown });
    await waitFor('both ignored', async () =>
      (await webhookEvent(env.db, 'shopify', misattributed))?.status === 'ignored' && (await webhookEvent(env.db, 'shopify', unknown))?.status === 'ignored');
    expect((await syncRow(shopA))!.bulk_finished_via).toBeNull();
    // A body that is not a bulk operation's is refused before anything is stored.
    const bad = await postShopify(app, 'bulk_operations/finish', { admin_graphql_api_id: 'gid://shopify/Customer/1', status: 'completed' }, { shopDomain: a });
    expect(bad.status).toBe(400);
  });

  it('reconciliation resumes a sync whose job was lost', async () => {
    const domain = newDomain();
    fake.seedCustomers(domain, [customer(), customer()]);
    fake.bulkPolls = 1_000_000;
    const shopId = await installShop(app, env.db, domain);
    await waitFor('export started', async () => {
      await dispatchOutbox(env.db, api.producer);
      return Boolean((await syncRow(shopId))?.bulk_operation_id);
    });
    const sync = (await syncRow(shopId))!;
    const queue = worker.queues.get('shopify');
    await waitFor('poll delayed', async () => (await queue.getJob(jobIds.shopSync(sync.id)))?.isDelayed() ?? false);
    await (await queue.getJob(jobIds.shopSync(sync.id)))!.remove();
    fake.completeBulkOperation(sync.bulk_operation_id!);
    await env.db.$executeRaw`UPDATE shop_syncs SET updated_at = now() - interval '10 minutes' WHERE id = ${sync.id}::uuid`;
    const report = await runReconciliation(worker);
    expect(report.repairs).toMatchObject({ shop_sync_requeued: 1, shop_sync_failed: 0 });
    const done = await ended(shopId);
    expect(done).toMatchObject({ status: 'completed', bulk_finished_via: 'poll', customers_seen: 2 });
  });
});
