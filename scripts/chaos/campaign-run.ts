// One campaign under chaos, end to end through the real processes: a fresh
// database, a stack (simulator, api, N workers as child processes), a shop
// provisioned through the API with seeded contacts and credits, a campaign
// created and enqueued through the API, the scenario's chaos running while it
// sends, then every invariant checked against Postgres and the simulator.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyWalletChange } from '../../domain/credits/apply-wallet-change';
import { parseConfig } from '../../lib/config';
import { createDb, type Db } from '../../lib/db';
import { sleep, startStack, type Stack } from '../lib/stack';
import { ApiClient } from './api-client';
import { killGroup } from '../lib/proc';
import { onTeardown, trackKiller } from './cleanup';
import { createChaosDatabase } from './database';
import { checkCampaigns, checkMoney, type CampaignCheck } from './invariants';
import { out, type ScenarioReport } from './report';

export interface CampaignContext {
  report: ScenarioReport;
  stack: Stack;
  api: ApiClient;
  db: Db;
  shop: { id: string; domain: string };
  campaignId: string;
  recipients: number;
  /** Further campaigns the scenario started on this stack: waited for and checked like the main one. */
  alsoCheck: CampaignCheck['campaigns'];
  /** Becomes true once the campaign completed (or the run gave up): chaos loops stop then. */
  readonly finished: boolean;
  deadline: number;
}

export interface CampaignScenario {
  label: string;
  recipients: number;
  workers: number;
  /** The Postgres server the scenario's database lives on (its own cluster for R3). */
  serverUrl: string;
  /** Environment for every process of the stack, on top of the chaos defaults. */
  env?: NodeJS.ProcessEnv;
  /** How many recorded sends to look up one by one at the simulator. */
  sample: number;
  timeoutMs: number;
  /** Before the enqueue (e.g. simulator faults). */
  prepare?(ctx: CampaignContext): Promise<void>;
  /** Runs while the campaign sends; should loop until `ctx.finished`. */
  chaos(ctx: CampaignContext): Promise<void>;
  /** After completion, before the invariants (scenario-specific checks). */
  afterwards?(ctx: CampaignContext): Promise<void>;
}

// Short leases, timeouts and reconciliation periods so recovery takes seconds:
// the paths are the production ones, only the clocks are faster.
const CHAOS_ENV: NodeJS.ProcessEnv = {
  SEND_LEASE_MS: '6000',
  SMS_PROVIDER_TIMEOUT_MS: '3000',
  RECONCILE_EVERY_MS: '3000',
  SHUTDOWN_TIMEOUT_MS: '3000',
  // The scenarios prove the re-send path: a send whose outcome a crash or a
  // hang left unknown goes out again with the same reference, and the
  // provider (here the simulator, told to) collapses the repeat. Production
  // leaves this off unless the provider is confirmed to dedup by reference.
  SMS_PROVIDER_DEDUPS_BY_REFERENCE: 'true',
  SIMULATOR_DEDUPS_BY_REFERENCE: 'true',
  // The seeded numbers are American (+1201): with the legal 08:00-21:00
  // floor on, a run at night would wait for the morning. The floor has its
  // own tests; the scenarios prove recovery at any hour.
  SMS_QUIET_HOURS_FLOOR: 'false',
  // The stack logs at warn; CHAOS_LOG_LEVEL=info (or debug) to see more in its log files.
  ...(process.env.CHAOS_LOG_LEVEL ? { LOG_LEVEL: process.env.CHAOS_LOG_LEVEL } : {}),
};

const fmt = (n: number): string => n.toLocaleString('en-US');

async function seed(db: Db, shopId: string, contacts: number, credits: number): Promise<void> {
  // Quiet hours off, so the run does not depend on the hour it starts at.
  await db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00' WHERE id = ${shopId}::uuid`;
  // Names vary in length, so messages are one or two segments and the reservation (an upper bound) is partly released.
  await db.$executeRaw`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent, tags)
    SELECT ${shopId}::uuid, p, encode(sha256(p::bytea), 'hex'), (ARRAY['Ada','Grace','Linus','Margaret','Alan','Barbara'])[1 + g % 6], 'Chaos', 'subscribed', ARRAY['chaos']
      FROM generate_series(0, ${contacts - 1}::int) g, LATERAL (SELECT '+1201' || (2000000 + g)::text AS p) x
    ON CONFLICT DO NOTHING`;
  await db.$transaction((tx) =>
    applyWalletChange(tx, { shopId, type: 'grant', amount: credits, idempotencyKey: `chaos-grant-${shopId}`, reference: 'chaos' }),
  );
}

export function expectStatus<T>(what: string, res: { status: number; body: T }, ...ok: number[]): T {
  if (!ok.includes(res.status)) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A shop provisioned the way an install does it: the first authenticated call. */
export async function provisionShop(api: ApiClient, db: Db, label: string, contacts: number, credits: number): Promise<{ id: string; domain: string }> {
  const domain = `chaos-${label.toLowerCase()}-${randomBytes(4).toString('hex')}.myshopify.com`;
  const shop = expectStatus('GET /api/shop', await api.call<{ id: string }>(domain, 'GET', '/shop'), 200);
  await seed(db, shop.id, contacts, credits);
  return { id: shop.id, domain };
}

/** Counts from Postgres; null while Postgres is unreachable. */
async function progress(db: Db, campaignId: string): Promise<{ status: string; done: number; open: number; sent: number } | null> {
  try {
    const [row] = await db.$queryRaw<{ status: string; open: bigint; done: bigint; sent: bigint }[]>`
      SELECT c.status,
             (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.status IN ('pending', 'sending')) AS open,
             (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.status NOT IN ('pending', 'sending')) AS done,
             (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.sent_at IS NOT NULL) AS sent
        FROM campaigns c WHERE c.id = ${campaignId}::uuid`;
    return row ? { status: row.status, done: Number(row.done), open: Number(row.open), sent: Number(row.sent) } : null;
  } catch {
    return null;
  }
}

export interface StackContext {
  stack: Stack;
  api: ApiClient;
  /** A client of the scenario's database, for seeding and for the checks. */
  db: Db;
  deadline: number;
}

export interface ChaosStackOptions {
  label: string;
  workers: number;
  serverUrl: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/**
 * A fresh database and a stack on it for `fn`; afterwards the stack is
 * stopped, checked for leftovers and the database dropped, whatever happened.
 */
export async function withChaosStack(report: ScenarioReport, o: ChaosStackOptions, fn: (c: StackContext) => Promise<void>): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  const database = await createChaosDatabase(o.serverUrl);
  const logDir = mkdtempSync(path.join(tmpdir(), `sms-chaos-${o.label.toLowerCase()}-`));
  const env: NodeJS.ProcessEnv = {
    ...CHAOS_ENV,
    DATABASE_URL: database.url,
    INTERNAL_SIGNING_SECRET: randomBytes(24).toString('hex'),
    ...o.env,
  };
  report.note(`database ${database.name}, logs in ${logDir}`);
  const stack = await startStack({ workers: o.workers, env, label: `chaos-${o.label.toLowerCase()}`, logDir, bootTimeoutMs: 90_000 });
  const untrack = trackKiller(() => {
    for (const svc of stack.services) if (!svc.exit) killGroup(svc.pid, 'SIGKILL');
  });
  const stopStack = onTeardown(`stop the ${o.label} stack`, async () => {
    await stack.stop(3_000);
    untrack();
    if (!o.env?.REDIS_URL) await stack.clearQueues().catch(() => undefined);
  });
  const db = createDb(parseConfig({ ...stack.env, DATABASE_POOL_SIZE: '4' }));
  const closeDb = onTeardown('close the checker db client', () => db.$disconnect());
  try {
    await fn({ stack, api: new ApiClient(stack.urls.api, stack.env), db, deadline });
    report.check('no process exited on its own', stack.failures.length === 0, stack.failures.length === 0 ? `${stack.services.length} processes started, every exit was ours` : stack.failures.join('; '));
  } finally {
    await closeDb();
    await stopStack();
    const orphans = stack.orphans();
    report.check('nothing of the stack left running', orphans.length === 0, `orphans: [${orphans.join(', ')}]`);
    await database.drop();
  }
}

// No {{shopName}} (its length varies with the random domain): with the opt-out
// footer, Margaret and Barbara need two segments and the other names one, so
// the reservation (2 per message) is partly consumed and partly released.
export const CAMPAIGN_BODY = 'Hi {{firstName|there}}, our winter sale starts today: 20% off everything with code WINTER20. Free shipping on all orders over $50, all this whole week!';

export async function createCampaign(api: ApiClient, shopDomain: string, name: string, tags = ['chaos']): Promise<string> {
  const created = expectStatus(
    'POST /api/campaigns',
    await api.call<{ id: string }>(shopDomain, 'POST', '/campaigns', { name, body: CAMPAIGN_BODY, audience: { tags } }),
    201,
  );
  return created.id;
}

/** Polls Postgres until the campaign ended with no open recipient; tolerates Postgres being away meanwhile. */
export async function waitForCampaign(db: Db, campaignId: string, o: { deadline: number; total: number; stop?: () => boolean; startedAt?: number }): Promise<void> {
  const started = o.startedAt ?? Date.now();
  let lastLine = 0;
  let last: Awaited<ReturnType<typeof progress>> = null;
  while (!o.stop?.()) {
    const p = await progress(db, campaignId);
    if (p) last = p;
    if (p && ['completed', 'cancelled', 'failed'].includes(p.status) && p.open === 0) return;
    if (Date.now() > o.deadline) throw new Error(`campaign did not complete in time (${last ? `${last.status}, ${fmt(last.done)} final, ${fmt(last.open)} open` : 'no progress read'})`);
    if (Date.now() - lastLine > 5_000) {
      lastLine = Date.now();
      out(`  ..    ${((Date.now() - started) / 1000).toFixed(0)} s: ${p ? `${p.status}, ${fmt(p.done)}/${fmt(o.total)} final (${fmt(p.sent)} sent)` : 'Postgres unreachable'}`);
    }
    await sleep(300);
  }
}

export async function runCampaignScenario(report: ScenarioReport, s: CampaignScenario): Promise<void> {
  await withChaosStack(report, s, async ({ stack, api, db, deadline }) => {
    const shop = await provisionShop(api, db, s.label, s.recipients, s.recipients * 3);
    const campaignId = await createCampaign(api, shop.domain, `Chaos ${s.label}`);
    let finished = false;
    const ctx: CampaignContext = {
      report,
      stack,
      api,
      db,
      shop,
      campaignId,
      recipients: s.recipients,
      alsoCheck: [],
      get finished() {
        return finished;
      },
      deadline,
    };
    await s.prepare?.(ctx);
    const enqueued = expectStatus(
      'POST /api/campaigns/:id/enqueue',
      await api.call<{ recipients: number; creditsReserved: number }>(shop.domain, 'POST', `/campaigns/${campaignId}/enqueue`, {}, { 'Idempotency-Key': `chaos-${campaignId}` }),
      202,
    );
    const started = Date.now();
    report.note(`campaign ${campaignId}: ${fmt(enqueued.recipients)} recipients, ${fmt(enqueued.creditsReserved)} credits reserved, ${s.workers} workers`);

    // Handled at once (an unobserved rejection would end the process); rethrown below.
    let chaosError: unknown;
    const chaos = s.chaos(ctx).catch((err: unknown) => {
      chaosError = err;
      finished = true;
    });
    try {
      await waitForCampaign(db, campaignId, { deadline, total: enqueued.recipients, stop: () => finished, startedAt: started });
    } finally {
      finished = true;
      await chaos;
    }
    if (chaosError) throw chaosError;
    report.note(`campaign finished ${((Date.now() - started) / 1000).toFixed(1)} s after enqueue`);
    await s.afterwards?.(ctx);
    for (const other of ctx.alsoCheck) await waitForCampaign(db, other.id, { deadline, total: other.expectedRecipients });

    await checkCampaigns(report, {
      db,
      simUrl: stack.urls.simulator,
      campaigns: [{ id: campaignId, shopId: shop.id, expectedRecipients: enqueued.recipients, label: ctx.alsoCheck.length > 0 ? 'main' : undefined }, ...ctx.alsoCheck],
      sample: s.sample,
    });
    await checkMoney(report, db, { expectNothingReserved: true });
    await checkNothingToRepair(report, api, [campaignId, ...ctx.alsoCheck.map((c) => c.id)]);
  });
}

/** At rest, a reconciliation pass (the on-call one, through the signed API) has nothing left to repair. */
export async function checkNothingToRepair(report: ScenarioReport, api: ApiClient, campaignIds: string[]): Promise<void> {
  const found: string[] = [];
  let status = 200;
  for (const campaignId of campaignIds) {
    const res = await api.internal<{ repairs: Record<string, number> }>('POST', '/internal/reconcile', { campaignId });
    if (res.status !== 200) status = res.status;
    for (const [kind, n] of Object.entries(res.body?.repairs ?? {})) if (n > 0) found.push(`${kind} ${n}`);
  }
  report.check('a reconciliation pass (signed /internal/reconcile) finds nothing to repair', status === 200 && found.length === 0, `HTTP ${status}, repairs: ${found.join(', ') || 'none'}`);
}
