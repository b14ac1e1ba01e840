// `npm run bench`: the pipeline measured against this machine's own ceilings.
// Starts simulator, api and worker(s) itself (scripts/lib/stack.ts) on a
// database of its own (sms_bench), seeds audiences with set-based SQL, runs
// the scenarios, prints the target table and writes bench/results/<date>.{json,md,svg}.
//
//   npm run bench                      10 k and 100 k sends + every other scenario (a few minutes)
//   npm run bench -- --size 1m         adds the 1 000 000-recipient campaign
//   npm run bench -- --only send       just the send scenarios (also: ceilings, webhooks, enqueue, redirects)
//   npm run bench -- --only redirects --redirect-rate 5250 --redirect-seconds 5 --redirect-audience 1m
//                                      short-link redirects/s and p99 while a campaign sends
//   npm run bench -- --workers 2       more worker processes
//   npm run bench -- --profile DIR     api, worker(s) and the production-mode simulator write V8 CPU profiles into DIR
//   npm run bench -- --fresh           drop and re-create the bench database first
//   npm run bench -- --tsx             run the services through tsx instead of the compiled build
//   npm run bench -- --worker-node-args '--max-old-space-size=96'   extra node flags for the worker(s)
//   npm run bench -- --api-node-args '--max-semi-space-size=32'     extra node flags for the api
//   npm run bench -- --only settled --repeat 4      production mode, reports on: settled throughput,
//                                                   report ingest, CPU and log bytes per recipient,
//                                                   time to first message; "meets in k of n runs"
//   npm run bench -- --dlr-batch 1                  the simulator posts one report per request
//   npm run bench -- --only settled --stats-pollers 2      the same with two merchant pages open on each
//                                                   campaign (its stats polled every second, as the admin does)
//   npm run bench -- --only settled --provider-mps 8000   production mode under a provider budget
//                                                   (segments/s): report-ingest latency with CPU to spare
//   npm run bench -- --only fairness --fairness-size 1m   production mode: shop B's 1 000-recipient
//                                                   campaign while shop A's big one sends (enqueue →
//                                                   completed) and API read p99 meanwhile; default size
//                                                   100 000, 1 000 000 with --size 1m
//   npm run bench -- --only flows      production mode: 100 000 flow runs due at once (due → all sent),
//                                                   due-run lag while a 100 000 campaign sends, CPU and
//                                                   Postgres bytes per flow message beside a campaign's
//                                                   (--flow-runs, --flow-lag-rate, --flow-lag-seconds)

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../lib/config';
import { createProducerRedis, waitForRedis } from '../../lib/redis';
import { apiClient } from '../lib/session-client';
import { buildDist, redisPidFromInfo, ROOT, startStack, StackError, tail, type Stack } from '../lib/stack';
import { audienceDomain, ensureAudience, grantCredits, openBenchDb, PRODUCTION_FIRST_NUMBER, productionAudienceDomain, relationBytes, resetRunTables } from './bench-db';
import { detailLines, markdown, modesChart, sendChart, targetRows, textTable, type BenchResults } from './report';
import { bullmqNoopCeiling, postgresUpdateCeiling } from './scenarios/ceilings';
import { enqueueLatency } from './scenarios/enqueue';
import { redirectLoad, REDIRECTOR_CPU_NICE } from './scenarios/redirects';
import { runSend } from './scenarios/send';
import { runFairness } from './scenarios/fairness';
import { runFlows } from './scenarios/flows';
import { installBenchToken, productionStackEnv, runSettled } from './scenarios/settled';
import { deliveryReports, stripeIngest } from './scenarios/webhooks';

type Part = 'ceilings' | 'send' | 'webhooks' | 'enqueue' | 'redirects' | 'settled' | 'fairness' | 'flows';
const PARTS: Part[] = ['ceilings', 'send', 'webhooks', 'enqueue', 'redirects', 'settled', 'fairness', 'flows'];

interface Options {
  sizes: number[];
  only: Set<Part>;
  workers: number;
  profileDir: string | null;
  fresh: boolean;
  tsx: boolean;
  database: string;
  dlrs: number;
  enqueueRate: number;
  enqueueSeconds: number;
  replayRate: number;
  stripeRate: number;
  stripeSeconds: number;
  enqueueAudiences: number[];
  workerNodeArgs: string[];
  apiNodeArgs: string[];
  /** Production-mode runs per size (scenarios/settled.ts). */
  repeat: number;
  /** Reports per callback the simulator posts in production mode (1: one request each). */
  dlrBatch: number;
  dlrDelayMs: number;
  /** Merchant pages polling each settled run's stats every second (`--stats-pollers`; default none). */
  statsPollers: number;
  /** The production-mode stack's SMS_PROVIDER_MPS (segments/s; default: no budget to speak of). */
  providerMps: number;
  /** Production-mode audience sizes (default: the send sizes from 100 000 up). */
  settledSizes: number[] | null;
  /** Short-link redirects offered per second, for how long, while a campaign to this audience sends. */
  redirectRate: number;
  redirectSeconds: number;
  redirectAudience: number;
  /** Shop A's campaign in the fairness scenario (null: 1 000 000 with --size 1m, else 100 000), and API reads/s offered meanwhile. */
  fairnessSize: number | null;
  fairnessReadRate: number;
  /** Flow runs due at once, and runs due per second for how long while a campaign sends (scenarios/flows.ts). */
  flowRuns: number;
  flowLagRate: number;
  flowLagSeconds: number;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    sizes: [10_000, 100_000],
    only: new Set(PARTS),
    workers: 1,
    profileDir: null,
    fresh: false,
    tsx: false,
    database: 'sms_bench',
    dlrs: 30_000,
    enqueueRate: 300,
    enqueueSeconds: 10,
    replayRate: 50,
    stripeRate: 3_000,
    stripeSeconds: 5,
    enqueueAudiences: [1_000, 1_000_000],
    workerNodeArgs: [],
    apiNodeArgs: [],
    repeat: 1,
    dlrBatch: 100,
    dlrDelayMs: 200,
    providerMps: 1_000_000,
    statsPollers: 0,
    settledSizes: null,
    redirectRate: 5_250,
    redirectSeconds: 5,
    redirectAudience: 1_000_000,
    fairnessSize: null,
    fairnessReadRate: 100,
    flowRuns: 100_000,
    flowLagRate: 300,
    flowLagSeconds: 30,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    const num = (): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${a} needs a positive number`);
      return n;
    };
    if (a === '--size') {
      const v = value().toLowerCase();
      if (v !== '1m') throw new UsageError('--size takes 1m');
      o.sizes = [10_000, 100_000, 1_000_000];
    } else if (a === '--only') {
      const parts = value().split(',') as Part[];
      for (const p of parts) if (!PARTS.includes(p)) throw new UsageError(`--only takes ${PARTS.join(',')}`);
      o.only = new Set(parts);
    } else if (a === '--workers') o.workers = Math.floor(num());
    else if (a === '--profile') o.profileDir = path.resolve(value());
    else if (a === '--fresh') o.fresh = true;
    else if (a === '--tsx') o.tsx = true;
    else if (a === '--worker-node-args') o.workerNodeArgs = value().split(' ').filter(Boolean);
    else if (a === '--api-node-args') o.apiNodeArgs = value().split(' ').filter(Boolean);
    else if (a === '--database') o.database = value();
    else if (a === '--dlrs') o.dlrs = Math.floor(num());
    else if (a === '--enqueue-rate') o.enqueueRate = num();
    else if (a === '--enqueue-seconds') o.enqueueSeconds = num();
    else if (a === '--replay-rate') o.replayRate = num();
    else if (a === '--stripe-rate') o.stripeRate = num();
    else if (a === '--enqueue-audiences') o.enqueueAudiences = value().split(',').map((v) => Number(v.replace(/k$/i, '000').replace(/m$/i, '000000')));
    else if (a === '--stripe-seconds') o.stripeSeconds = num();
    else if (a === '--repeat') o.repeat = Math.floor(num());
    else if (a === '--dlr-batch') o.dlrBatch = Math.min(500, Math.floor(num()));
    else if (a === '--dlr-delay-ms') o.dlrDelayMs = Math.floor(num());
    else if (a === '--provider-mps') o.providerMps = Math.max(1, Math.floor(num()));
    else if (a === '--stats-pollers') o.statsPollers = Math.max(0, Math.floor(num()));
    else if (a === '--redirect-rate') o.redirectRate = num();
    else if (a === '--redirect-seconds') o.redirectSeconds = num();
    else if (a === '--redirect-audience') o.redirectAudience = Number(value().replace(/k$/i, '000').replace(/m$/i, '000000'));
    else if (a === '--fairness-size') o.fairnessSize = Number(value().replace(/k$/i, '000').replace(/m$/i, '000000'));
    else if (a === '--fairness-read-rate') o.fairnessReadRate = num();
    else if (a === '--flow-runs') o.flowRuns = Math.floor(num());
    else if (a === '--flow-lag-rate') o.flowLagRate = num();
    else if (a === '--flow-lag-seconds') o.flowLagSeconds = num();
    else if (a === '--settled-sizes') o.settledSizes = value().split(',').map((v) => Number(v.replace(/k$/i, '000').replace(/m$/i, '000000')));
    else throw new UsageError(`unknown argument ${a}`);
  }
  if (!/^[a-z0-9_]+$/.test(o.database)) throw new UsageError('--database: lower-case letters, digits and _ only');
  return o;
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const running: { stack?: Stack } = {};

function freeStamp(dir: string, minute: string): string {
  for (let n = 1; ; n++) {
    const stamp = n === 1 ? minute : `${minute}-${n}`;
    if (!existsSync(path.join(dir, `${stamp}.json`))) return stamp;
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const base = parseConfig(process.env);
  const startedAt = new Date();
  const minute = startedAt.toISOString().slice(0, 16).replace(/:/g, '').replace('T', '-');

  out(`bench: database ${opts.database}${opts.fresh ? ' (fresh)' : ''}, sizes ${opts.sizes.join(', ')}, ${opts.workers} worker(s)`);
  const db = await openBenchDb(base.DATABASE_URL, opts.database, { fresh: opts.fresh });
  const notes: string[] = [];
  try {
    await resetRunTables(db);
    if (opts.profileDir) mkdirSync(opts.profileDir, { recursive: true });
    if (!opts.tsx) {
      out('building dist/ (the services run compiled, as in production; --tsx runs them through tsx)');
      await buildDist();
    }
    const stack = await startStack({
      label: 'bench',
      runtime: opts.tsx ? 'tsx' : 'dist',
      workers: opts.workers,
      // Short links are served as production serves them: by their own
      // process (start:links), which has CPU of its own there; on this
      // shared machine its weight stands in for that (scenarios/redirects.ts).
      links: opts.only.has('redirects') ? { cpuNice: REDIRECTOR_CPU_NICE } : false,
      env: {
        DATABASE_URL: db.url,
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        // The send scenarios measure sending; delivery reports are posted by
        // the webhook scenario itself, at a rate it controls.
        SIMULATOR_DLR_ENABLED: 'false',
        // The per-shop limits protect a real shop from itself; here they would
        // only measure the limiter.
        RATE_LIMIT_CAMPAIGNS_PER_MIN: '10000000',
        RATE_LIMIT_GENERAL_PER_MIN: '10000000',
        // The simulator has no rate limit: the send scenarios measure the pipeline, not a
        // provider's budget (the bench's 2-segment messages at 40 k/s are 80 k segments/s,
        // over the 50 000 segments/s default of SMS_PROVIDER_MPS).
        SMS_PROVIDER_MPS: '1000000',
        // The redirect load comes from one address; a phone clicks from its own.
        LINK_CLICKS_PER_IP_PER_MIN: '100000000',
      },
      workerOptions: () => ({ nodeArgs: [...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []), ...opts.workerNodeArgs] }),
      apiOptions: { nodeArgs: [...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []), ...opts.apiNodeArgs] },
    });
    running.stack = stack;
    out(`stack up: api ${stack.urls.api}, simulator ${stack.urls.simulator}, ${stack.workers().length} worker(s); logs in ${stack.logDir}`);

    const redis = createProducerRedis(stack.config.REDIS_URL);
    await waitForRedis(redis);
    const info = await redis.info('server');
    redis.disconnect();
    const redisPid = redisPidFromInfo(info);
    const host = {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGb: os.totalmem() / 1024 ** 3,
      node: process.version,
      postgres: String((await db.pool.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v.split(' on ')[0]),
      redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    };
    if (redisPid === null) notes.push('redis-server pid unknown: Redis CPU not counted');

    // Audiences: shops provisioned by their first API call, quiet hours and the
    // frequency cap off (each run texts the same contacts again).
    const audienceSizes = [
      ...new Set([
        ...(opts.only.has('send') ? [1_000, ...opts.sizes] : []),
        ...(opts.only.has('enqueue') ? opts.enqueueAudiences : []),
        ...(opts.only.has('redirects') ? [opts.redirectAudience] : []),
      ]),
    ].sort((a, b) => a - b);
    const shops = new Map<number, { id: string; api: ReturnType<typeof apiClient> }>();
    for (const size of audienceSizes) {
      const api = apiClient(`${stack.urls.api}/api`, audienceDomain(size), stack.env);
      const shop = await api.call<{ id: string }>('GET', '/shop');
      if (shop.status !== 200) throw new Error(`GET /api/shop answered ${shop.status}`);
      await db.pool.query(`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false, name = 'Bench' WHERE id = $1`, [shop.body.id]);
      await ensureAudience(db, shop.body.id, size, (l) => out(`  ${l}`));
      shops.set(size, { id: shop.body.id, api });
    }

    const results: BenchResults = {
      startedAt: startedAt.toISOString(),
      host,
      options: { ...opts, only: [...opts.only], sendBatchSize: stack.config.SEND_BATCH_SIZE },
      sends: [],
      ceilings: { postgres: [], bullmq: null },
      enqueue: [],
      replay: null,
      stripe: null,
      dlr: null,
      settled: [],
      redirects: null,
      fairness: null,
      flows: null,
      ledgerBytesPerBatch: null,
      liveBytesPerRecipient: null,
      notes,
    };
    const sendConcurrency = 8 * opts.workers;

    if (opts.only.has('ceilings')) {
      out('ceilings');
      for (const rows of opts.sizes.filter((s) => s >= 100_000)) {
        const c = await postgresUpdateCeiling(db, { rows, batch: stack.config.SEND_BATCH_SIZE, concurrency: sendConcurrency });
        out(`  postgres: ${Math.round(c.rowsPerSecond).toLocaleString('en-US')} rows/s over ${rows.toLocaleString('en-US')} rows`);
        results.ceilings.postgres.push(c);
      }
      results.ceilings.bullmq = await bullmqNoopCeiling({ redisUrl: stack.config.REDIS_URL, prefix: stack.config.QUEUE_PREFIX, jobs: 20_000, concurrency: sendConcurrency });
      out(`  bullmq: ${Math.round(results.ceilings.bullmq.jobsPerSecond).toLocaleString('en-US')} no-op jobs/s`);
    }

    if (opts.only.has('send')) {
      out('sends');
      // Not measured: the first campaign of a process compiles and caches what the pipeline uses.
      const warm = shops.get(1_000);
      if (warm) {
        await grantCredits(db, warm.id, 3_000, `bench-warm-${stack.runId}`);
        await runSend(stack, db, warm.api, { size: 1_000, redisPid, timeoutMs: 60_000, label: `${stack.runId}-warm`, log: () => undefined });
      }
      for (const size of opts.sizes) {
        const shop = shops.get(size);
        if (!shop) continue;
        await grantCredits(db, shop.id, size * 3, `bench-send-${stack.runId}-${size}`);
        const ledgerBefore = await relationBytes(db, ['credit_transactions']);
        const run = await runSend(stack, db, shop.api, { size, redisPid, timeoutMs: Math.max(120_000, size / 5), label: `${stack.runId}-${size}`, log: out });
        if (run.sent !== run.recipients) notes.push(`send ${size}: ${run.recipients - run.sent} recipients not sent (failed/skipped)`);
        if (size === 100_000) {
          const ledgerAfter = await relationBytes(db, ['credit_transactions']);
          results.ledgerBytesPerBatch = ((ledgerAfter.credit_transactions ?? 0) - (ledgerBefore.credit_transactions ?? 0)) / Math.ceil(size / stack.config.SEND_BATCH_SIZE);
        }
        results.sends.push(run);
      }
    }

    if (opts.only.has('webhooks')) {
      out('webhooks');
      const campaign = results.sends.find((s) => s.size === 100_000) ?? results.sends[results.sends.length - 1];
      if (campaign) {
        results.dlr = await deliveryReports(stack, db, { campaignId: campaign.campaignId, count: Math.min(opts.dlrs, campaign.sent), concurrency: 32, timeoutMs: 300_000, redisPid });
        out(`  delivery reports: ingest ${Math.round(results.dlr.ingest.rate)}/s, apply ${Math.round(results.dlr.appliedPerSecond)}/s`);
      } else {
        notes.push('delivery-report apply not measured: it needs a send scenario in the same run');
      }
      const anyShop = [...shops.values()][0]?.id ?? '00000000-0000-0000-0000-000000000000';
      results.stripe = await stripeIngest(stack, db, { rate: opts.stripeRate, count: Math.round(opts.stripeRate * opts.stripeSeconds), shopId: anyShop, runId: stack.runId, redisPid });
      out(`  stripe: ${Math.round(results.stripe.rate)}/s, p99 ${results.stripe.p99Ms.toFixed(1)} ms`);
    }

    if (opts.only.has('enqueue')) {
      out('enqueue latency');
      const count = Math.round(opts.enqueueRate * opts.enqueueSeconds);
      for (const audience of opts.enqueueAudiences) {
        const shop = shops.get(audience);
        if (!shop) continue;
        await grantCredits(db, shop.id, count * audience * 3, `bench-enqueue-${stack.runId}-${audience}`);
        const r = await enqueueLatency(stack, db, shop.api, { shopId: shop.id, audience, rate: opts.enqueueRate, count, replays: audience === 1_000 ? Math.min(count, Math.round(opts.replayRate * 10)) : 0, replayRate: opts.replayRate, runId: stack.runId, redisPid });
        results.enqueue.push(r.enqueue);
        if (r.replay) results.replay = r.replay;
        out(`  ${audience.toLocaleString('en-US')}: p50 ${r.enqueue.p50Ms.toFixed(1)} ms, p99 ${r.enqueue.p99Ms.toFixed(1)} ms${r.replay ? `; replay p50 ${r.replay.p50Ms.toFixed(2)} ms` : ''}`);
      }
    }

    if (opts.only.has('redirects')) {
      out('short-link redirects while a campaign sends');
      const shop = shops.get(opts.redirectAudience);
      if (shop) {
        await grantCredits(db, shop.id, opts.redirectAudience * 3, `bench-links-${stack.runId}`);
        results.redirects = await redirectLoad(stack, db, shop.api, { audience: opts.redirectAudience, rate: opts.redirectRate, seconds: opts.redirectSeconds, redisPid, label: stack.runId, log: out });
      }
    }

    if (results.sends.length > 0) {
      // What the rows take once dead versions are gone (what autovacuum lets
      // the next campaigns reuse). Last, as it rewrites the tables.
      await db.pool.query('VACUUM FULL campaign_recipients, campaign_batches');
      const live = await relationBytes(db, ['campaign_recipients', 'campaign_batches']);
      const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM campaign_recipients');
      results.liveBytesPerRecipient = ((live.campaign_recipients ?? 0) + (live.campaign_batches ?? 0)) / Math.max(1, Number(rows[0]?.n ?? 0));
    }

    await stack.stop();
    await stack.clearQueues().catch(() => undefined);
    const left = stack.orphans();
    if (left.length > 0) notes.push(`processes left after stop (killed): ${left.join(', ')}`);

    if (opts.only.has('settled') || opts.only.has('fairness') || opts.only.has('flows')) {
      // Production as deployed: a stack of its own (the one above runs in
      // development mode with reports off, the pipeline's ceiling).
      out(`production mode, delivery reports on (${opts.dlrBatch > 1 ? `batched ≤ ${opts.dlrBatch} per request` : 'one per request'}, ${opts.dlrDelayMs} ms after the send)`);
      const prod = await startStack({
        label: 'bench-prod',
        runtime: opts.tsx ? 'tsx' : 'dist',
        workers: opts.workers,
        env: productionStackEnv({ databaseUrl: db.url, dlrBatch: opts.dlrBatch, dlrDelayMs: opts.dlrDelayMs, providerMps: opts.providerMps }),
        workerOptions: () => ({ nodeArgs: [...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []), ...opts.workerNodeArgs] }),
        apiOptions: { nodeArgs: [...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []), ...opts.apiNodeArgs] },
        // The fake provider is no part of production (it refuses to start in it).
        simulatorOptions: { env: { NODE_ENV: 'development' }, nodeArgs: opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [] },
      });
      running.stack = prod;
      out(`stack up: api ${prod.urls.api}; logs in ${prod.logDir}`);
      const settledSizes = opts.only.has('settled') ? (opts.settledSizes ?? opts.sizes.filter((x) => x >= 100_000)) : [];
      const fairnessSize = opts.fairnessSize ?? (opts.sizes.includes(1_000_000) ? 1_000_000 : 100_000);
      const prodShops = new Map<number, { id: string; api: ReturnType<typeof apiClient> }>();
      const flowCampaignSize = 100_000;
      for (const size of new Set([1_000, ...settledSizes, ...(opts.only.has('fairness') ? [fairnessSize] : []), ...(opts.only.has('flows') ? [flowCampaignSize] : [])])) {
        const api = apiClient(`${prod.urls.api}/api`, productionAudienceDomain(size), prod.env);
        const shop = await api.call<{ id: string }>('GET', '/shop');
        if (shop.status !== 200) throw new Error(`GET /api/shop answered ${shop.status}`);
        await installBenchToken(db, shop.body.id, prod.env.SHOP_TOKEN_ENCRYPTION_KEY ?? '');
        await db.pool.query(`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false, name = 'Bench' WHERE id = $1`, [shop.body.id]);
        await ensureAudience(db, shop.body.id, size, (l) => out(`  ${l}`), { domain: productionAudienceDomain(size), firstNumber: PRODUCTION_FIRST_NUMBER });
        await grantCredits(db, shop.body.id, size * 3 * (opts.repeat + 1), `bench-settled-${prod.runId}-${size}`);
        prodShops.set(size, { id: shop.body.id, api });
      }
      // Not measured: the first campaign of the processes.
      const warm = prodShops.get(1_000);
      if (warm) await runSettled(prod, db, warm.api, { size: 1_000, run: 0, dlrBatch: opts.dlrBatch, redisPid, timeoutMs: 120_000, label: `${prod.runId}-warm`, log: () => undefined });
      for (let run = 1; run <= opts.repeat; run++) {
        for (const size of settledSizes) {
          const shop = prodShops.get(size);
          if (!shop) continue;
          results.settled.push(await runSettled(prod, db, shop.api, { size, run, dlrBatch: opts.dlrBatch, redisPid, timeoutMs: Math.max(180_000, size / 2), label: `${prod.runId}-${size}-${run}`, log: out, statsPollers: opts.statsPollers }));
        }
      }
      const fairA = prodShops.get(fairnessSize);
      if (opts.only.has('fairness') && warm && fairA) {
        out(`fair sharing: shop B's 1 000-recipient campaign while shop A's ${fairnessSize.toLocaleString('en-US')} sends`);
        results.fairness = await runFairness(prod, db, {
          big: fairA.api,
          small: warm.api,
          bigSize: fairnessSize,
          smallSize: 1_000,
          readRate: opts.fairnessReadRate,
          label: prod.runId,
          timeoutMs: Math.max(180_000, fairnessSize / 2),
          log: out,
        });
      }
      const flowCampaign = prodShops.get(flowCampaignSize);
      if (opts.only.has('flows') && flowCampaign) {
        out(`flows: ${opts.flowRuns.toLocaleString('en-US')} runs due at once; lag at ${opts.flowLagRate}/s while a ${flowCampaignSize.toLocaleString('en-US')} campaign sends; cost per message`);
        // The flows' own shop: its contacts are the runs' (a flow's runs and a campaign's recipients of different shops).
        const domain = `bench-f${opts.flowRuns}.myshopify.com`;
        const api = apiClient(`${prod.urls.api}/api`, domain, prod.env);
        const shop = await api.call<{ id: string }>('GET', '/shop');
        if (shop.status !== 200) throw new Error(`GET /api/shop answered ${shop.status}`);
        await installBenchToken(db, shop.body.id, prod.env.SHOP_TOKEN_ENCRYPTION_KEY ?? '');
        await db.pool.query(`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false, name = 'Bench' WHERE id = $1`, [shop.body.id]);
        await ensureAudience(db, shop.body.id, opts.flowRuns, (l) => out(`  ${l}`), { domain, firstNumber: PRODUCTION_FIRST_NUMBER + 2_000_000 });
        await grantCredits(db, shop.body.id, (opts.flowRuns + 1_000 + Math.round(opts.flowLagRate * opts.flowLagSeconds)) * 3, `bench-flows-${prod.runId}`);
        await grantCredits(db, flowCampaign.id, flowCampaignSize * 3 * 2, `bench-flows-campaign-${prod.runId}`);
        results.flows = await runFlows(prod, db, {
          flows: { api, shopId: shop.body.id },
          campaign: { api: flowCampaign.api, size: flowCampaignSize },
          runs: opts.flowRuns,
          lagRate: opts.flowLagRate,
          lagSeconds: opts.flowLagSeconds,
          dlrBatch: opts.dlrBatch,
          redisPid,
          label: prod.runId,
          timeoutMs: 300_000,
          log: out,
        });
      }
      await prod.stop();
      await prod.clearQueues().catch(() => undefined);
      const leftProd = prod.orphans();
      if (leftProd.length > 0) notes.push(`production stack: processes left after stop (killed): ${leftProd.join(', ')}`);
    }

    const rows = targetRows(results);
    const dir = path.join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    // Two runs started within one minute (--only redirects takes about one) keep both files.
    const stamp = freeStamp(dir, minute);
    const chart = results.sends.length ? `${stamp}.svg` : null;
    if (chart) writeFileSync(path.join(dir, chart), sendChart(results.sends));
    const modes = modesChart(results.sends, results.settled ?? []);
    if (modes) writeFileSync(path.join(dir, `${stamp}-modes.svg`), modes);
    writeFileSync(path.join(dir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(path.join(dir, `${stamp}.md`), markdown(results, rows, chart));
    out();
    out(textTable(rows));
    out();
    for (const l of detailLines(results)) out(l);
    for (const n of notes) out(`note: ${n}`);
    out();
    out(`written: bench/results/${stamp}.json, .md${chart ? ', .svg' : ''}${modes ? `, -modes.svg` : ''}`);
  } finally {
    await db.close().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    const known = err instanceof UsageError || err instanceof StackError;
    process.stderr.write(`bench failed: ${known ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
    for (const s of running.stack?.services ?? []) process.stderr.write(`--- last lines of ${s.name} (${s.log}) ---\n${tail(s.log)}\n`);
    await running.stack?.stop().catch(() => undefined);
    process.exit(1);
  },
);
