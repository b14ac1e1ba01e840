import { migrationStatusWith } from '../../../lib/migrator';
import { ALL_QUEUES } from '../../../queue/names';
import type { ApiDeps } from './deps';

export interface CheckResult {
  status: 'ok' | 'down';
  latencyMs: number;
  error?: string;
  [k: string]: unknown;
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  checks: Record<'database' | 'redis' | 'queues' | 'migrations', CheckResult>;
}

const CHECK_TIMEOUT_MS = 1_500;

async function timed(fn: () => Promise<Record<string, unknown> | void>): Promise<CheckResult> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const extra = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - start), ...(extra ?? {}) };
  } catch (err) {
    // A short reason for the operator; no connection strings or SQL.
    const reason = err instanceof Error && /timed out/.test(err.message) ? err.message : 'unreachable';
    return { status: 'down', latencyMs: Math.round(performance.now() - start), error: reason };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * database/redis down → "down"; queues unreadable or migrations pending →
 * "degraded". Anything but "ok" answers 503 so a load balancer stops routing.
 */
export async function checkHealth(deps: Pick<ApiDeps, 'db' | 'redis' | 'queues' | 'migrations'>): Promise<HealthReport> {
  const [database, redis, queues, migrations] = await Promise.all([
    timed(async () => {
      await deps.db.$queryRaw`SELECT 1`;
    }),
    timed(async () => {
      await deps.redis.ping();
    }),
    timed(async () => {
      const counts: Record<string, unknown> = {};
      for (const name of ALL_QUEUES) {
        // Batch jobs carry a priority (fair sharing: batch-priorities.ts), and
        // BullMQ keeps prioritized jobs apart from `waiting`: without them a
        // backlog of sends would read as an empty queue.
        counts[name] = await deps.queues.get(name).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
      }
      return { counts };
    }),
    timed(async () => {
      const s = await migrationStatusWith(
        { query: (async (sql: string) => ({ rows: await deps.db.$queryRawUnsafe(sql) })) as never },
        deps.migrations,
      );
      if (s.pending.length > 0 || s.changed.length > 0) throw new Error('migrations pending');
      return { applied: s.applied.length };
    }),
  ]);
  if (migrations.status === 'down' && database.status === 'ok') migrations.error = 'pending or changed migrations';
  const checks = { database, redis, queues, migrations };
  const status = database.status === 'down' || redis.status === 'down' ? 'down' : queues.status === 'down' || migrations.status === 'down' ? 'degraded' : 'ok';
  return { status, checks };
}

/** How long one /health/full report answers every caller. */
export const HEALTH_REPORT_TTL_MS = 1_000;

/**
 * /health/full is unauthenticated and each report costs queries on the
 * shared Postgres and Redis: one report per second per process, however many
 * callers (concurrent calls share the one in flight). Time from deps.now.
 */
export function cachedHealth(deps: Pick<ApiDeps, 'db' | 'redis' | 'queues' | 'migrations' | 'now'>, ttlMs = HEALTH_REPORT_TTL_MS): () => Promise<HealthReport> {
  let last: { startedAt: number; report: Promise<HealthReport> } | undefined;
  return () => {
    const now = deps.now().getTime();
    // A clock that moved back also starts a fresh report.
    if (!last || now - last.startedAt >= ttlMs || now < last.startedAt) last = { startedAt: now, report: checkHealth(deps) };
    return last.report;
  };
}
