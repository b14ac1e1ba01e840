// `npm run demo`: the whole product in one command. Starts the SMS simulator,
// the API and a worker as child processes, installs a demo shop from a fake
// Shopify (token exchange, then the customer sync of its 1 000 customers),
// gives it 10 000 contacts and credits, creates and enqueues a campaign through the HTTP API
// (real session token, Idempotency-Key), follows it to completion and prints
// what happened. Exits 0 on success, 1 with a reason otherwise; never hangs.
//
//   npm run demo                      run once, stop everything, exit
//   npm run demo -- --serve           leave simulator, api and worker running
//   npm run demo -- --contacts 100000 a bigger audience (benchmarking)
//   npm run demo -- --customers 20000 customers the fake Shopify holds for the sync
//   npm run demo -- --timeout 300     overall limit in seconds (default 180)

import Stripe from 'stripe';
import { createDb, type Db } from '../lib/db';
import { apiClient } from './lib/session-client';
import { daytimeRegion, type DemoRegion } from './lib/demo-regions';
import { sleep, startStack, StackError, tail, type Stack } from './lib/stack';
import { startFakeShopify, type FakeShopify } from '../test/fakes/shopify-server';

interface Options {
  serve: boolean;
  contacts: number;
  customers: number;
  timeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { serve: false, contacts: 10_000, customers: 1_000, timeoutMs: 180_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new DemoError(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--serve') opts.serve = true;
    else if (a === '--contacts') opts.contacts = next();
    else if (a === '--customers') opts.customers = next();
    else if (a === '--timeout') opts.timeoutMs = next() * 1000;
    else throw new DemoError(`unknown argument ${a} (known: --serve, --contacts N, --customers N, --timeout SECONDS)`);
  }
  if (opts.contacts > 2_000_000) throw new DemoError('--contacts is capped at 2 000 000');
  if (opts.customers > 1_000_000) throw new DemoError('--customers is capped at 1 000 000');
  return opts;
}

class DemoError extends Error {}

const running: { stack?: Stack; shopify?: FakeShopify } = {};

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function assertChildrenAlive(): void {
  running.stack?.assertAlive();
}

async function stopChildren(): Promise<void> {
  await running.stack?.stop();
  await running.shopify?.close();
}

function expectStatus(what: string, res: { status: number; body: unknown }, ...ok: number[]): void {
  if (!ok.includes(res.status)) throw new DemoError(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
}


interface Stats {
  status: string;
  total: number;
  pending: number;
  sending: number;
  sent: number;
  delivered: number;
  failed: number;
  skipped: number;
  cancelled: number;
  unknown: number;
  creditsReserved: number;
  creditsDebited: number;
  creditsReleased: number;
  startedAt: string | null;
  completedAt: string | null;
}

function bar(done: number, total: number, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}%`;
}

const CONSENT_STATES = ['SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'NOT_SUBSCRIBED', 'PENDING', 'UNSUBSCRIBED', 'REDACTED'] as const;

/** The store's customers as the fake Shopify exports them: mixed consent, a few without a phone, numbers apart from the seeded contacts'. */
function seedShopifyCustomers(shopify: FakeShopify, shopDomain: string, customers: number, region: DemoRegion): void {
  shopify.seedCustomers(shopDomain, (i) => ({
    firstName: ['Ada', 'Grace', 'Linus', 'Margaret'][i % 4],
    lastName: 'Customer',
    phone: i % 25 === 24 ? null : `${region.customerPrefix}${region.customerBase + i}`,
    tags: i % 3 === 0 ? ['vip'] : [],
    updatedAt: new Date(Date.now() - 86_400_000).toISOString(),
    numberOfOrders: String(i % 7),
    amountSpent: { amount: `${(i % 7) * 25}.00`, currencyCode: 'USD' },
    lastOrder: i % 7 === 0 ? null : { createdAt: new Date(Date.now() - (i % 90) * 86_400_000).toISOString() },
    smsMarketingConsent: { marketingState: CONSENT_STATES[i % 10]!, marketingOptInLevel: 'SINGLE_OPT_IN', consentUpdatedAt: new Date(Date.now() - 30 * 86_400_000).toISOString(), consentCollectedFrom: 'SHOPIFY' },
  }), customers);
}

interface SyncView {
  status: string;
  counts: Record<string, number>;
  exportFinishedVia: string | null;
  error: string | null;
}

async function seed(db: Db, shopId: string, contacts: number, region: DemoRegion): Promise<void> {
  // One set-based statement, like an import would leave them; names vary in length so segments do too.
  await db.$executeRaw`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent, tags)
    SELECT ${shopId}::uuid, p, encode(sha256(p::bytea), 'hex'), (ARRAY['Ada','Grace','Linus','Margaret','Alan','Barbara'])[1 + g % 6], 'Demo', 'subscribed', ARRAY['demo']
      FROM generate_series(0, ${contacts - 1}::int) g, LATERAL (SELECT ${region.contactPrefix}::text || (${region.contactBase}::int + g)::text AS p) x
    ON CONFLICT DO NOTHING`;
}

/**
 * Credits arrive as in production: a Stripe-signed `checkout.session.completed`
 * reaches /webhooks/stripe and the webhook job grants the purchase once. The
 * demo has no Stripe account to create the Checkout Session, so it records the
 * pending purchase that POST /api/billing/checkout would have recorded.
 */
async function buyCredits(db: Db, c: { apiUrl: string; shopId: string; credits: number; runId: string; stripeKey: string; webhookSecret: string }): Promise<void> {
  const sessionId = `cs_demo_${c.runId}`;
  await db.$executeRaw`
    INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
    VALUES (${c.shopId}::uuid, ${sessionId}, 'demo', ${c.credits}::int, 0, 'usd')`;
  const payload = JSON.stringify({
    id: `evt_demo_${c.runId}`,
    object: 'event',
    type: 'checkout.session.completed',
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        mode: 'payment',
        payment_status: 'paid',
        payment_intent: `pi_demo_${c.runId}`,
        client_reference_id: c.shopId,
        metadata: { shopId: c.shopId, packId: 'demo' },
      },
    },
  });
  const signature = new Stripe(c.stripeKey).webhooks.generateTestHeaderString({ payload, secret: c.webhookSecret });
  const res = await fetch(`${c.apiUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
    body: payload,
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`POST /webhooks/stripe answered ${res.status}`);
  for (const until = Date.now() + 30_000; Date.now() < until; await sleep(100)) {
    const [w] = await db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${c.shopId}::uuid`;
    if (Number(w?.balance ?? 0) >= c.credits) return;
  }
  throw new Error('the Stripe purchase was not granted within 30 s');
}

async function metricLines(url: string, names: string[]): Promise<string[]> {
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
    return text.split('\n').filter((l) => !l.startsWith('#') && names.some((n) => l.startsWith(n)));
  } catch (err) {
    return [`(could not read ${url}: ${(err as Error).message})`];
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + opts.timeoutMs;
  const overall = setTimeout(() => {
    process.stderr.write(`demo: gave up after ${opts.timeoutMs / 1000} s\n`);
    void stopChildren().finally(() => process.exit(1));
  }, opts.timeoutMs);
  overall.unref();

  // Shopify itself is played by the fake on loopback: the shop installs by token exchange.
  const shopify: FakeShopify = await startFakeShopify({
    apiKey: process.env.SHOPIFY_API_KEY ?? 'demo-shopify-api-key',
    apiSecret: process.env.SHOPIFY_API_SECRET ?? 'demo-shopify-api-secret',
  });
  running.shopify = shopify;
  out(`sms demo: fake Shopify on ${shopify.url}; starting simulator, api and worker`);
  const stack = await startStack({
    label: 'demo',
    bootTimeoutMs: Math.min(opts.timeoutMs, 60_000),
    env: { LOG_LEVEL: process.env.DEMO_LOG_LEVEL ?? 'warn', SIMULATOR_DLR_DELAY_MS: '200', SHOPIFY_ADMIN_API_BASE: shopify.url, SHOPIFY_INSTALL_BY_EXCHANGE: 'true', SHOPIFY_SYNC_ON_INSTALL: 'true' },
  });
  running.stack = stack;
  const { env, config } = stack;
  const apiPort = stack.ports.api;
  const simPort = stack.ports.simulator;
  const workerPort = stack.service('worker').port;
  const runId = stack.runId;
  out(`sms demo: simulator :${simPort}, api :${apiPort}, worker :${workerPort}, logs in ${stack.logDir}`);
  out('all three processes are healthy');

  const db = createDb(config);
  try {
    const shopDomain = `demo-${runId}.myshopify.com`;
    const api = apiClient(`http://127.0.0.1:${apiPort}/api`, shopDomain, env);
    const daytime = daytimeRegion();
    if (!daytime) throw new DemoError('no demo region is in daytime now (scripts/lib/demo-regions.ts no longer covers every hour)');
    const { region, local } = daytime;
    seedShopifyCustomers(shopify, shopDomain, opts.customers, region);
    // The first authenticated call installs the shop: its session token is
    // exchanged (once) for an offline Admin API token, stored encrypted.
    const shop = await api.call<{ id: string }>('GET', '/shop');
    expectStatus('GET /api/shop', shop, 200);
    const [token] = await db.$queryRaw<{ key_id: string | null }[]>`
      SELECT split_part(ciphertext, ':', 2) AS key_id FROM shop_access_tokens WHERE shop_id = ${shop.body.id}::uuid AND ciphertext IS NOT NULL`;
    if (!token) throw new Error('the shop has no access token after its first request (token exchange failed: see the api log)');
    out(`shop ${shopDomain} installed by token exchange (${shopify.exchanges.length} exchange with the fake Shopify; token stored AES-256-GCM under key ${token.key_id})`);
    // The install queued the customer sync: Shopify's bulk export, streamed into contacts in chunks.
    const syncStart = Date.now();
    let sync: SyncView | undefined;
    for (;;) {
      assertChildrenAlive();
      if (Date.now() > deadline) throw new DemoError('the customer sync did not finish in time');
      const res = await api.call<SyncView>('GET', '/shop/sync');
      expectStatus('GET /api/shop/sync', res, 200);
      sync = res.body;
      if (sync.status === 'completed' || sync.status === 'failed') break;
      await sleep(200);
    }
    if (sync.status !== 'completed') throw new DemoError(`the customer sync failed: ${sync.error}`);
    const c = sync.counts;
    out(`customer sync of ${opts.customers.toLocaleString('en-US')} Shopify customers completed in ${Date.now() - syncStart} ms (export end learnt by ${sync.exportFinishedVia}): ` +
      `${c.contactsCreated} contacts created, ${c.contactsUpdated} updated, ${c.skippedNoPhone} without a phone, ${c.invalidPhone} invalid phones; ${c.subscribed} subscribed, ${c.optedOut} opted out, the rest pending`);
    // The admin outside Shopify: the development sign-in stands in for App Bridge (404 in production).
    out(`admin: open http://127.0.0.1:${apiPort}/app/dev-login?shop=${shopDomain} (development sign-in for this shop)`);
    const zone = region.zone;
    expectStatus('PATCH /api/shop', await api.call('PATCH', '/shop', { timezone: zone }), 200);
    const credits = opts.contacts * 3;
    const seedStart = Date.now();
    await seed(db, shop.body.id, opts.contacts, region);
    await buyCredits(db, { apiUrl: `http://127.0.0.1:${apiPort}`, shopId: shop.body.id, credits, runId, stripeKey: config.STRIPE_SECRET_KEY, webhookSecret: config.STRIPE_WEBHOOK_SECRET });
    out(`shop ${shopDomain} (timezone ${zone}, local ${local}; customers numbered in ${region.name}, where it is daytime now): ${opts.contacts.toLocaleString('en-US')} contacts, ${credits.toLocaleString('en-US')} credits bought through a Stripe-signed webhook, in ${Date.now() - seedStart} ms`);

    const created = await api.call<{ id: string }>('POST', '/campaigns', {
      name: `Demo ${runId}`,
      // With the footer, "Ada"/"Alan" fit one segment and longer names need two: the
      // reservation (an upper bound) is partly released at the end.
      body: 'Hi {{firstName|there}}, our winter sale starts today at {{shopName}}: 20% off everything with code WINTER20. Free shipping on orders over $50 this week!',
      audience: { tags: ['demo'] },
    });
    expectStatus('POST /api/campaigns', created, 201);
    const campaignId = created.body.id;
    const enqueueStart = Date.now();
    const enqueued = await api.call<{ recipients: number; creditsReserved: number }>('POST', `/campaigns/${campaignId}/enqueue`, {}, { 'Idempotency-Key': `demo-enqueue-${runId}` });
    expectStatus('POST /api/campaigns/:id/enqueue', enqueued, 202);
    out(`campaign ${campaignId} enqueued in ${Date.now() - enqueueStart} ms: ${enqueued.body.recipients} recipients, ${enqueued.body.creditsReserved} credits reserved`);

    let stats: Stats | undefined;
    let lastLine = 0;
    const tty = process.stdout.isTTY === true;
    for (;;) {
      assertChildrenAlive();
      if (Date.now() > deadline) {
        // Say why when quiet hours hold it (a region table that stopped covering the hour), not only that it timed out.
        const [held] = await db.$queryRaw<{ until: Date | null; batches: bigint }[]>`
          SELECT min(not_before) AS until, count(*) AS batches FROM campaign_batches
           WHERE campaign_id = ${campaignId}::uuid AND status = 'pending' AND not_before > now()`;
        const why = held?.until ? `: ${held.batches} batch(es) held by quiet hours until ${held.until.toISOString()}` : '';
        throw new DemoError(`campaign did not complete in time${why}`);
      }
      const res = await api.call<Stats>('GET', `/campaigns/${campaignId}/stats`);
      expectStatus('GET /api/campaigns/:id/stats', res, 200);
      stats = res.body;
      const done = stats.total - stats.pending - stats.sending;
      const line = `${bar(done, enqueued.body.recipients)} ${done}/${enqueued.body.recipients} sent ${stats.sent + stats.delivered} failed ${stats.failed} (${stats.status})`;
      if (tty) process.stdout.write(`\r${line}`);
      else if (Date.now() - lastLine > 1_000 || ['completed', 'cancelled', 'failed'].includes(stats.status)) {
        out(line);
        lastLine = Date.now();
      }
      if (['completed', 'cancelled', 'failed'].includes(stats.status)) break;
      await sleep(700);
    }
    if (tty) out();
    const wallMs = Date.now() - enqueueStart;
    if (stats.status !== 'completed') throw new DemoError(`campaign ended ${stats.status}`);

    // Delivery reports trail the sends (SIMULATOR_DLR_DELAY_MS, then a webhook
    // job each): wait while they keep coming, up to 20 s.
    const reportsBy = Math.min(deadline, Date.now() + 20_000);
    let previous = -1;
    let stalled = 0;
    while (Date.now() < reportsBy) {
      const s = (await api.call<Stats>('GET', `/campaigns/${campaignId}/stats`)).body;
      stats = s;
      if (s.sent === 0) break;
      stalled = s.sent === previous ? stalled + 1 : 0;
      if (stalled >= 3) break;
      previous = s.sent;
      await sleep(1_000);
    }

    // Every message the pipeline recorded as sent, whatever its delivery report said since.
    const [row] = await db.$queryRaw<{ n: bigint; segments: bigint | null }[]>`
      SELECT count(*) AS n, sum(segments) AS segments FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND sent_at IS NOT NULL`;
    const sentByWorker = Number(row?.n ?? 0);
    const sentSegments = Number(row?.segments ?? 0);
    const sent = stats.sent + stats.delivered;
    const sendMs = stats.startedAt && stats.completedAt ? new Date(stats.completedAt).getTime() - new Date(stats.startedAt).getTime() : wallMs;
    const sim = (await (await fetch(`http://127.0.0.1:${simPort}/_stats`)).json()) as Record<string, number>;
    const wallet = (await api.call<{ balance: number; reserved: number; available: number }>('GET', '/wallet')).body;
    out();
    out('summary');
    out(`  recipients            ${stats.total}`);
    out(`  sent                  ${sentByWorker} (delivered ${stats.delivered}, awaiting a delivery report ${stats.sent})`);
    out(`  failed                ${stats.failed} (refused at send, or reported undelivered by the carrier)   skipped ${stats.skipped}   unknown ${stats.unknown}`);
    out(`  credits reserved      ${stats.creditsReserved}`);
    out(`  credits debited       ${stats.creditsDebited} (Σ segments of the ${sentByWorker} messages sent: ${sentSegments})`);
    out(`  credits released      ${stats.creditsReleased}`);
    out(`  wallet                balance ${wallet.balance}, reserved ${wallet.reserved}, available ${wallet.available}`);
    out(`  provider              ${sim.messagesAccepted} accepted, ${sim.uniqueReferences} unique references, ${sim.duplicatesSuppressed} duplicates suppressed, ${sim.requests} requests`);
    out(`  throughput            ${Math.round((sentByWorker / Math.max(1, sendMs)) * 1000).toLocaleString('en-US')} messages/s (launch to completion ${sendMs} ms; enqueue to completion ${wallMs} ms)`);
    out();
    out('metrics (worker /metrics)');
    for (const l of await metricLines(`http://127.0.0.1:${workerPort}/metrics`, ['sms_messages_total', 'sms_segments_total', 'sms_provider_request_duration_seconds_count', 'job_duration_seconds_count{queue="sends"', 'sms_delivery_reports_total'])) out(`  ${l}`);
    out('metrics (api /metrics)');
    for (const l of await metricLines(`http://127.0.0.1:${apiPort}/metrics`, ['campaigns_enqueued_total', 'webhook_events_total'])) out(`  ${l}`);

    const problems: string[] = [];
    if (sent + stats.failed + stats.skipped + stats.unknown + stats.cancelled !== stats.total) problems.push('recipient counts do not add up');
    if (sim.messagesAccepted !== sentByWorker) problems.push(`provider accepted ${sim.messagesAccepted} messages but ${sentByWorker} are recorded as sent`);
    if (sim.uniqueReferences !== sim.messagesAccepted) problems.push('a reference was accepted twice');
    if (stats.creditsDebited !== sentSegments) problems.push(`debited ${stats.creditsDebited} credits for ${sentSegments} segments sent`);
    if (wallet.reserved !== 0) problems.push(`wallet still reserves ${wallet.reserved} credits`);
    if (stats.creditsDebited + stats.creditsReleased !== stats.creditsReserved) problems.push('reservation not fully consumed or released');
    if (problems.length > 0) throw new DemoError(`inconsistent outcome:\n  - ${problems.join('\n  - ')}`);

    if (opts.serve) {
      clearTimeout(overall);
      out();
      out(`serving: api http://127.0.0.1:${apiPort}, worker http://127.0.0.1:${workerPort}/metrics, simulator http://127.0.0.1:${simPort}/_stats`);
      out(`shop ${shopDomain}, API key ${env.SHOPIFY_API_KEY}, queue prefix ${env.QUEUE_PREFIX}. Ctrl-C stops everything.`);
      out(`admin: http://127.0.0.1:${apiPort}/app/dev-login?shop=${shopDomain}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
        const watch = setInterval(() => {
          if (stack.failures.length > 0) {
            clearInterval(watch);
            resolve();
          }
        }, 1_000);
      });
      assertChildrenAlive();
    }
  } finally {
    await db.$disconnect().catch(() => undefined);
  }
  await stopChildren();
  await stack.clearQueues().catch(() => undefined);
  const left = stack.orphans();
  if (left.length > 0) throw new DemoError(`processes left running after stop: ${left.join(', ')}`);
  out('demo finished: all processes stopped');
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stdout.write('\n');
    const known = err instanceof DemoError || err instanceof StackError;
    process.stderr.write(`demo failed: ${known ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
    for (const c of running.stack?.services ?? []) process.stderr.write(`--- last lines of ${c.name} (${c.log}) ---\n${tail(c.log)}\n`);
    await stopChildren();
    process.exit(1);
  },
);
