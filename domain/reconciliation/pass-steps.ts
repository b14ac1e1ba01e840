import type { Logger } from 'pino';
import type { Metrics } from '../../lib/metrics';

/** A step of the pass that threw: its name and what it threw. */
export interface StepFailure {
  step: string;
  error: unknown;
}

/**
 * A pass in which some steps threw. Thrown once every step has run, so the
 * job still fails (retried by BullMQ, `reconciliation_runs_total` not
 * counted, `ReconciliationNotRunning` if it persists) while one broken step
 * (Redis refusing the outbox's publishes, a query timing out) no longer
 * starves the others.
 */
export class ReconciliationStepsFailed<R> extends Error {
  constructor(
    readonly failures: StepFailure[],
    /** What the steps that ran did. */
    readonly report: R,
  ) {
    super(`reconciliation steps failed: ${failures.map((f) => f.step).join(', ')}`, { cause: failures[0]?.error });
    this.name = 'ReconciliationStepsFailed';
  }
}

export interface PassSteps {
  /** Runs one step; a throw is logged, counted and remembered, and resolves to `fallback`. */
  run<T>(step: string, fn: () => Promise<T>, fallback: T): Promise<T>;
  readonly failures: StepFailure[];
}

export function passSteps(deps: { logger: Logger; metrics: Metrics }): PassSteps {
  const failures: StepFailure[] = [];
  return {
    failures,
    async run(step, fn, fallback) {
      try {
        return await fn();
      } catch (error) {
        failures.push({ step, error });
        deps.metrics.reconciliationStepFailures.inc({ step });
        deps.logger.error({ step, err: error }, 'reconciliation step failed; the other steps still run');
        return fallback;
      }
    },
  };
}
