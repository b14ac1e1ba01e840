import type { Logger } from 'pino';

/**
 * Closing connections after the drain (Postgres pool, Redis) gets this long
 * before the process gives up on a clean stop. With the drain bound it makes
 * the whole stop bounded: SHUTDOWN_TIMEOUT_MS + CLOSE_GRACE_MS, which is what
 * an orchestrator's grace period must cover (docker-compose's
 * stop_grace_period, Kubernetes' terminationGracePeriodSeconds).
 */
export const CLOSE_GRACE_MS = 5_000;

/**
 * Arms the last resort of a shutdown: a dependency that never answers its
 * close (a half-open Redis connection) must not keep a stopping process
 * alive until the orchestrator's SIGKILL. Exits 1: the stop was not clean.
 */
export function armExitDeadline(logger: Logger, drainMs: number): void {
  setTimeout(() => {
    logger.error({ drainMs, closeGraceMs: CLOSE_GRACE_MS }, 'shutdown did not finish within its bound; exiting');
    process.exit(1);
  }, drainMs + CLOSE_GRACE_MS).unref();
}
