import type { DbOrTx } from '../../lib/db';
import type { FlowStep } from './flow-input';
import { getFlowRow } from './get-flow';

export interface RunCounts {
  active: number;
  exited: number;
  exitedByReason: Record<string, number>;
}

export interface MessageCounts {
  /** Went out: sent, delivered or undelivered. */
  sent: number;
  delivered: number;
  undelivered: number;
  /** Refused by the provider (never charged). */
  failed: number;
  /** May have gone out; never re-sent, not charged. */
  unknown: number;
  /** Being sent now (written before the provider call). */
  sending: number;
  skipped: number;
  skippedByReason: Record<string, number>;
  creditsSpent: number;
}

export interface FlowStepStats {
  index: number;
  /** The step's type in the flow's current version (null past its last step: a step only an older version had). */
  type: FlowStep['type'] | null;
  /** Runs whose next step is this one (active), or that ended before it (exited). */
  runs: RunCounts;
  messages: MessageCounts;
}

/** GET /api/flows/:id/stats (api.md, "Flow stats"). */
export interface FlowStats {
  flowId: string;
  runs: RunCounts & { started: number; completed: number };
  messages: MessageCounts;
  steps: FlowStepStats[];
}

const emptyRuns = (): RunCounts => ({ active: 0, exited: 0, exitedByReason: {} });
const emptyMessages = (): MessageCounts => ({ sent: 0, delivered: 0, undelivered: 0, failed: 0, unknown: 0, sending: 0, skipped: 0, skippedByReason: {}, creditsSpent: 0 });

function addMessages(m: MessageCounts, status: string, skipReason: string | null, n: number, credits: number): void {
  m.creditsSpent += credits;
  if (status === 'sent' || status === 'delivered' || status === 'undelivered') m.sent += n;
  if (status === 'delivered') m.delivered += n;
  else if (status === 'undelivered') m.undelivered += n;
  else if (status === 'failed') m.failed += n;
  else if (status === 'unknown') m.unknown += n;
  else if (status === 'sending') m.sending += n;
  else if (status === 'skipped') {
    m.skipped += n;
    const reason = skipReason ?? 'unknown';
    m.skippedByReason[reason] = (m.skippedByReason[reason] ?? 0) + n;
  }
}

/**
 * A flow's figures, per flow and per step, in two aggregates that each read
 * one index range and no table row (flow_runs_flow_stats_idx,
 * flow_messages_flow_stats_idx): cost grows with the flow's runs and
 * messages (about 0.3 s for a million runs, docs/flows.md "Stats") and is
 * independent of every other flow and shop. Steps are positions: a run of an
 * older version is counted at its own step index. Another shop's flow is
 * NOT_FOUND.
 */
export async function getFlowStats(db: DbOrTx, shopId: string, flowId: string): Promise<FlowStats> {
  const flow = await getFlowRow(db, shopId, flowId);
  const [version] = flow.current_version_id
    ? await db.$queryRaw<{ steps: FlowStep[] }[]>`SELECT steps FROM flow_versions WHERE id = ${flow.current_version_id}::uuid`
    : [];
  // Independent reads: on two pool connections, side by side.
  const [runRows, messageRows] = await Promise.all([
    db.$queryRaw<{ status: string; exit_reason: string | null; step: number; n: bigint }[]>`
      SELECT status, exit_reason, current_step AS step, count(*) AS n
        FROM flow_runs WHERE flow_id = ${flowId}::uuid
       GROUP BY status, exit_reason, current_step`,
    db.$queryRaw<{ step: number; status: string; skip_reason: string | null; n: bigint; credits: bigint }[]>`
      SELECT step, status, skip_reason, count(*) AS n, COALESCE(sum(credits), 0)::bigint AS credits
        FROM flow_messages WHERE flow_id = ${flowId}::uuid
       GROUP BY step, status, skip_reason`,
  ]);

  const steps = version?.steps ?? [];
  const stepCount = Math.max(steps.length, ...runRows.filter((r) => r.status !== 'completed').map((r) => r.step + 1), ...messageRows.map((r) => r.step + 1));
  const perStep: FlowStepStats[] = Array.from({ length: stepCount }, (_, index) => ({ index, type: steps[index]?.type ?? null, runs: emptyRuns(), messages: emptyMessages() }));
  const total: FlowStats = { flowId, runs: { started: 0, completed: 0, ...emptyRuns() }, messages: emptyMessages(), steps: perStep };

  for (const r of runRows) {
    const n = Number(r.n);
    total.runs.started += n;
    if (r.status === 'completed') {
      total.runs.completed += n;
      continue;
    }
    const at = perStep[r.step]?.runs;
    for (const c of at ? [total.runs, at] : [total.runs]) {
      if (r.status === 'active') c.active += n;
      else {
        c.exited += n;
        const reason = r.exit_reason ?? 'unknown';
        c.exitedByReason[reason] = (c.exitedByReason[reason] ?? 0) + n;
      }
    }
  }
  for (const m of messageRows) {
    const n = Number(m.n);
    const credits = Number(m.credits);
    addMessages(total.messages, m.status, m.skip_reason, n, credits);
    const at = perStep[m.step];
    if (at) addMessages(at.messages, m.status, m.skip_reason, n, credits);
  }
  return total;
}
