import type { Db } from '../../lib/db';
import { FLOW_PLACEHOLDERS, parseTemplate, templateLinks } from '../messaging/template';
import { executeFlowStep, type StepOutcome } from './execute-flow-step';
import { exitConditionSchema, stepsSchema, type FlowStep } from './flow-input';
import type { FlowSendDeps } from './send-flow-message';
import { sendFlowMessages, type BatchOutcome, type BatchRun } from './send-flow-messages';
import { RUN_EXIT_FACTS } from './run-exit-facts';

interface RunHead {
  id: string;
  version_id: string;
  current_step: number;
  steps: unknown;
  exit_condition: unknown;
  sms_consent: string;
  opted_out_at: Date | null;
  erased_at: Date | null;
  ordered_since: boolean;
  checkout_completed: boolean;
}

/**
 * The current step of every run of one claim (a `flows.steps.v1` job). One
 * read of all the runs; the runs whose step is a send and that no exit
 * condition ends go through sendFlowMessages together; every other run (an
 * exit, a wait, a condition, the end of the flow, a process without a
 * provider, a send the batch hands back) through executeFlowStep, one at a
 * time, which re-reads it under the claim and decides exactly as before.
 * Both settle only under the claim and from the step they read, so the
 * outcome per run is what executeFlowStep alone would have given.
 */
export async function executeFlowSteps(db: Db, o: { runIds: string[]; claimToken: string; now: () => Date; send?: FlowSendDeps }): Promise<Map<string, StepOutcome>> {
  const out = new Map<string, StepOutcome>();
  const single: string[] = [];
  const batch: BatchRun[] = [];
  if (o.send && o.runIds.length > 1) {
    const heads = await db.$queryRaw<RunHead[]>`
      SELECT r.id::text, r.version_id::text, r.current_step, v.steps, v.exit_condition, c.sms_consent, c.opted_out_at, c.erased_at,
      ${RUN_EXIT_FACTS}
        FROM flow_runs r
        JOIN flow_versions v ON v.id = r.version_id AND v.flow_id = r.flow_id
        JOIN contacts c ON c.id = r.contact_id AND c.shop_id = r.shop_id
       WHERE r.id = ANY(${o.runIds}::bigint[]) AND r.claim_token = ${o.claimToken}::uuid AND r.status = 'active'`;
    const found = new Set(heads.map((h) => h.id));
    for (const id of o.runIds) if (!found.has(id)) out.set(id, { kind: 'lost' });
    // A version's steps are parsed once per claim, not once per run.
    const versions = new Map<string, { steps: FlowStep[]; linked: boolean[] }>();
    for (const h of heads) {
      let v = versions.get(h.version_id);
      if (!v) {
        const steps = stepsSchema.parse(h.steps);
        // A body with links renders the message's own short links, which need its id first: the one-message path.
        const linked = steps.map((s) => {
          if (s.type !== 'send') return false;
          const parsed = parseTemplate(s.body, FLOW_PLACEHOLDERS);
          return !parsed.ok || templateLinks(parsed.template).length > 0;
        });
        v = { steps, linked };
        versions.set(h.version_id, v);
      }
      const step = v.steps[h.current_step];
      const exit = exitConditionSchema.safeParse(h.exit_condition);
      const exits = h.erased_at !== null || h.opted_out_at !== null || h.sms_consent === 'unsubscribed' || h.checkout_completed || (exit.success && exit.data.orderPlaced && h.ordered_since);
      if (exits || step?.type !== 'send' || v.linked[h.current_step]) {
        single.push(h.id);
        continue;
      }
      const next = h.current_step + 1;
      batch.push({ runId: h.id, step: h.current_step, sendStep: step, next: next >= v.steps.length ? { status: 'completed' } : { step: next, dueAt: o.now() } });
    }
  } else {
    single.push(...o.runIds);
  }

  if (batch.length > 0 && o.send) {
    const sent = await sendFlowMessages(db, o.send, { claimToken: o.claimToken, now: o.now(), runs: batch });
    for (const b of batch) {
      const r = sent.get(b.runId) ?? { kind: 'lost' };
      if (r.kind === 'single') single.push(b.runId);
      else out.set(b.runId, toStepOutcome(b, r));
    }
  }
  for (const runId of single) out.set(runId, await executeFlowStep(db, { runId, claimToken: o.claimToken, now: o.now(), send: o.send }));
  return out;
}

function toStepOutcome(b: BatchRun, r: Exclude<BatchOutcome, { kind: 'single' }>): StepOutcome {
  if (r.kind === 'lost') return r;
  if (r.kind === 'deferred') return { kind: 'deferred', step: b.step, dueAt: r.dueAt, reason: r.reason };
  const m = r.move;
  if ('step' in m) return { kind: 'advanced', step: m.step, dueAt: m.dueAt, message: r.message };
  if (m.status === 'completed') return { kind: 'completed', message: r.message };
  return { kind: 'exited', reason: 'not_sendable', message: r.message };
}
