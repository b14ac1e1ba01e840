import type { Db } from '../../lib/db';
import { executeFlowStep, type StepOutcome } from './execute-flow-step';
import { exitConditionSchema, stepsSchema, type FlowStep } from './flow-input';
import { runMayGoOnSql } from './run-may-go-on-sql';
import type { FlowSendDeps } from './send-flow-message';
import { parsedStep } from './render-flow-message';
import { sendFlowMessages, type BatchOutcome, type BatchRun, type RunHead } from './send-flow-messages';

/**
 * The current step of every run of one claim (a `flows.steps.v1` job). The
 * send path reads all the runs once, under the claim, in the transaction
 * that writes their messages; the runs whose step is a send and that no exit
 * condition ends are sent together (sendFlowMessages); every other run (an
 * exit, a wait, a condition, the end of the flow, a process without a
 * provider, a send the batch hands back) goes through executeFlowStep, one at
 * a time, which re-reads it under the claim and decides exactly as before.
 * Both settle only under the claim and from the step they read, so the
 * outcome per run is what executeFlowStep alone would have given.
 */
export async function executeFlowSteps(db: Db, o: { runIds: string[]; claimToken: string; now: () => Date; send?: FlowSendDeps }): Promise<Map<string, StepOutcome>> {
  const out = new Map<string, StepOutcome>();
  // A flow paused (or a shop uninstalled) since its runs were claimed: they are held where they are,
  // claim released, not run (the claim checked it; the job may run well after it).
  const held = await db.$queryRaw<{ id: string; step: number }[]>`
    UPDATE flow_runs r SET claim_token = NULL, lease_until = NULL, updated_at = now()
     WHERE r.id = ANY(${o.runIds}::bigint[]) AND r.claim_token = ${o.claimToken}::uuid AND r.status = 'active'
       AND NOT (${runMayGoOnSql})
    RETURNING r.id::text, r.current_step AS step`;
  for (const h of held) out.set(h.id, { kind: 'held', step: h.step });
  const runIds = held.length === 0 ? o.runIds : o.runIds.filter((id) => !out.has(id));
  const single: string[] = [];
  if (o.send && runIds.length > 1) {
    const now = o.now();
    const routed = new Map<string, BatchRun>();
    // A version's steps and exit condition are parsed once per claim, not once per run.
    const versions = new Map<string, { steps: FlowStep[]; linked: boolean[]; orderPlaced: boolean }>();
    const route = (h: RunHead): BatchRun | null => {
      let v = versions.get(h.version_id);
      if (!v) {
        const steps = stepsSchema.parse(h.steps);
        // A body with links renders the message's own short links, which need its id first: the one-message path.
        const linked = steps.map((s) => {
          if (s.type !== 'send') return false;
          const p = parsedStep(s);
          return !p.parsed.ok || p.links > 0;
        });
        const exit = exitConditionSchema.safeParse(h.exit_condition);
        v = { steps, linked, orderPlaced: exit.success && exit.data.orderPlaced };
        versions.set(h.version_id, v);
      }
      const step = v.steps[h.current_step];
      const exits = h.erased_at !== null || h.opted_out_at !== null || h.sms_consent === 'unsubscribed' || h.checkout_completed || (v.orderPlaced && h.ordered_since) || h.order_undone !== null;
      if (exits || step?.type !== 'send' || v.linked[h.current_step]) return null;
      const next = h.current_step + 1;
      const run: BatchRun = { runId: h.run_id, step: h.current_step, sendStep: step, orderPlaced: v.orderPlaced, next: next >= v.steps.length ? { status: 'completed' } : { step: next, dueAt: now } };
      routed.set(h.run_id, run);
      return run;
    };
    const sent = await sendFlowMessages(db, o.send, { claimToken: o.claimToken, now, runIds, route });
    for (const runId of runIds) {
      const r = sent.get(runId) ?? { kind: 'lost' as const };
      const b = routed.get(runId);
      if (r.kind === 'single') single.push(runId);
      else if (r.kind === 'lost' || !b) out.set(runId, { kind: 'lost' });
      else out.set(runId, toStepOutcome(b, r));
    }
  } else {
    single.push(...runIds);
  }
  for (const runId of single) out.set(runId, await executeFlowStep(db, { runId, claimToken: o.claimToken, now: o.now(), send: o.send }));
  return out;
}

function toStepOutcome(b: BatchRun, r: Exclude<BatchOutcome, { kind: 'single' }>): StepOutcome {
  if (r.kind === 'lost') return r;
  if (r.kind === 'held') return { kind: 'held', step: b.step };
  if (r.kind === 'deferred') return { kind: 'deferred', step: b.step, dueAt: r.dueAt, reason: r.reason };
  const m = r.move;
  if ('step' in m) return { kind: 'advanced', step: m.step, dueAt: m.dueAt, message: r.message };
  if (m.status === 'completed') return { kind: 'completed', message: r.message };
  return { kind: 'exited', reason: 'not_sendable', message: r.message };
}
