// `npm run chaos`: the system's invariants proved under crashes, restarts,
// duplicate storms and provider faults, against the real processes.
//
//   npm run chaos                         every scenario, full size
//   npm run chaos -- --fast               the CI subset (R1 at 5 000 recipients, R4)
//   npm run chaos -- --scenario R1,R4     only these
//   npm run test:cluster                  R1, R4 and R5 on a local Redis Cluster (with the queue tests)
//   npm run chaos -- --timeout 1800       overall limit in seconds
//
// Each scenario prints its invariants (PASS/FAIL with the numbers) and a
// closing line; the exit code is 1 if any invariant failed or a scenario
// could not run. Every child process is killed on the way out, whatever it is.

import { loadConfigOrExit } from '../../lib/config';
import { killAllNow, leftovers, teardownAll } from './cleanup';
import { dropStaleChaosDatabases } from './database';
import { out, ScenarioReport } from './report';
import { r1WorkerKills } from './scenarios/r1-worker-kills';
import { r2RedisRestart } from './scenarios/r2-redis-restart';
import { r3PostgresRestart } from './scenarios/r3-postgres-restart';
import { r4DuplicateStorms } from './scenarios/r4-duplicate-storms';
import { r5ClusterFailover } from './scenarios/r5-cluster-failover';
import { r6Flows } from './scenarios/r6-flows';
import { r9ProviderFaults } from './scenarios/r9-provider-faults';
import type { ScenarioOptions } from './scenarios/types';

interface Scenario {
  id: string;
  title: string;
  fast: boolean;
  run(report: ScenarioReport, o: ScenarioOptions): Promise<void>;
}

const SCENARIOS: Scenario[] = [
  { id: 'R1', title: 'two workers SIGKILLed every few seconds during a campaign, restarted each time', fast: true, run: r1WorkerKills },
  { id: 'R2', title: 'Redis stopped mid-campaign (all its data lost) and started again', fast: false, run: r2RedisRestart },
  { id: 'R3', title: 'Postgres crashed mid-campaign and restarted; the API answers 503, never 500, meanwhile', fast: false, run: r3PostgresRestart },
  { id: 'R4', title: 'duplicate storms: 100 concurrent enqueues, Stripe events and Shopify webhooks', fast: true, run: r4DuplicateStorms },
  { id: 'R5', title: 'Redis Cluster: the primary serving the sends queue SIGKILLed mid-campaign, its replica promoted', fast: false, run: r5ClusterFailover },
  { id: 'R6', title: 'live flows: duplicate trigger storms, workers SIGKILLed mid-run, STOPs and orders racing the steps', fast: false, run: r6Flows },
  { id: 'R9', title: 'provider faults: 20 % 5xx, 5 % accept-then-hang, 429 bursts', fast: false, run: r9ProviderFaults },
];

class UsageError extends Error {}

function parseArgs(argv: string[]): { fast: boolean; only: string[] | null; timeoutMs: number } {
  let fast = false;
  let only: string[] | null = null;
  let timeoutMs = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--fast') fast = true;
    else if (a === '--scenario') {
      only = (argv[++i] ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
      const unknown = only.filter((id) => !SCENARIOS.some((s) => s.id === id));
      if (only.length === 0 || unknown.length > 0) throw new UsageError(`--scenario needs ids from ${SCENARIOS.map((s) => s.id).join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
    } else if (a === '--timeout') {
      timeoutMs = Number(argv[++i]) * 1000;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout needs a positive number of seconds');
    } else throw new UsageError(`unknown argument ${a} (known: --fast, --scenario R1[,R4…], --timeout SECONDS)`);
  }
  return { fast, only, timeoutMs: timeoutMs || (fast ? 420_000 : 2_400_000) };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const selected = SCENARIOS.filter((s) => (args.only ? args.only.includes(s.id) : !args.fast || s.fast));
  const overall = setTimeout(() => {
    process.stderr.write(`chaos: gave up after ${args.timeoutMs / 1000} s; stopping everything\n`);
    void teardownAll(5_000).finally(() => process.exit(1));
  }, args.timeoutMs);
  overall.unref();

  const config = loadConfigOrExit();
  await dropStaleChaosDatabases(config.DATABASE_URL).catch(() => 0);
  const options: ScenarioOptions = { fast: args.fast, databaseUrl: config.DATABASE_URL };
  out(`chaos: ${selected.map((s) => s.id).join(', ')}${args.fast ? ' (fast)' : ''}`);

  const reports: ScenarioReport[] = [];
  const errors = new Map<ScenarioReport, string>();
  for (const s of selected) {
    const report = new ScenarioReport(s.id, s.title);
    reports.push(report);
    out();
    out(`== ${s.id}: ${s.title}`);
    try {
      await s.run(report, options);
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      errors.set(report, message);
      out(`  ERROR ${message}`);
      if (process.env.CHAOS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    } finally {
      // Whatever the scenario left registered (it failed half-way) goes now.
      await teardownAll();
      report.finish();
    }
    out(report.summary(errors.get(report)));
  }

  const left = leftovers();
  out();
  out('summary');
  for (const r of reports) out(`  ${r.summary(errors.get(r))}`);
  out(`  ${left.length === 0 ? 'no process of this run is left running' : `LEFT RUNNING (killed now): ${left.join(', ')}`}`);
  killAllNow();
  clearTimeout(overall);
  return reports.every((r) => r.ok && !errors.has(r)) && left.length === 0 ? 0 : 1;
}

let stoppingOnSignal = false;
const stopOn = (signal: NodeJS.Signals): void => {
  // `on`, not `once`: the signal usually arrives twice (from the terminal or
  // `timeout` to the whole group, and relayed by tsx), and a second one
  // without a listener would end the process before the teardown is done.
  process.on(signal, () => {
    if (stoppingOnSignal) return;
    stoppingOnSignal = true;
    process.stderr.write(`chaos: ${signal}, stopping everything\n`);
    void teardownAll(5_000).finally(() => process.exit(130));
  });
};
stopOn('SIGINT');
stopOn('SIGTERM');
// A bug in the suite itself must still stop everything it started.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.once(event, (err: unknown) => {
    process.stderr.write(`chaos: ${event}: ${(err as Error)?.stack ?? String(err)}\n`);
    void teardownAll(5_000).finally(() => process.exit(1));
  });
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`chaos failed: ${err instanceof UsageError ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
    await teardownAll(5_000).catch(() => killAllNow());
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
