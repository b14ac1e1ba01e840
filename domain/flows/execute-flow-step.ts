import type { Db } from '../../lib/db';
import { recipientZones } from '../compliance/recipient-time-zone';
import { stepsSchema, exitConditionSchema, type ConditionStep, type FlowStep } from './flow-input';
import { waitEnd } from './plan-start';

export type StepOutcome =
  | { kind: 'lost' }
  | { kind: 'exited'; reason: 'opted_out' | 'contact_erased' | 'order_placed' | 'condition' }
  | { kind: 'completed' }
  | { kind: 'advanced'; step: number; dueAt: Date }
  /** A step the executor does not run yet (send): the claim is released, the run stays due. */
  | { kind: 'held'; step: number };

interface RunState {
  shop_id: string;
  current_step: number;
  triggered_at: Date;
  steps: unknown;
  exit_condition: unknown;
  sms_consent: string;
  opted_out_at: Date | null;
  erased_at: Date | null;
  phone_e164: string | null;
  timezone: string | null;
  tags: string[];
  shop_timezone: string;
  ordered_since: boolean;
  checkout_completed: boolean;
}

/**
 * Executes the current step of one claimed run, once: the run is read under
 * the claim and every settle is `WHERE id AND claim_token AND current_step`,
 * so only the holder of this claim moves the run, and only from the step it
 * read (a second job with the same claim, or a late one after a re-claim,
 * finds nothing to do). Exit conditions come first: a contact opted out or
 * erased, an order after the trigger when the version's exit condition says
 * so, or (abandoned checkout) the checkout completed, ends the run before
 * any step.
 */
export async function executeFlowStep(db: Db, o: { runId: string; claimToken: string; now: Date }): Promise<StepOutcome> {
  const [run] = await db.$queryRaw<RunState[]>`
    SELECT r.shop_id::text, r.current_step, r.triggered_at, v.steps, v.exit_condition,
           c.sms_consent, c.opted_out_at, c.erased_at, c.phone_e164, c.timezone, c.tags, s.timezone AS shop_timezone,
           EXISTS (SELECT 1 FROM shopify_orders od
                    WHERE od.shop_id = r.shop_id AND od.contact_id = r.contact_id AND od.ordered_at > r.triggered_at) AS ordered_since,
           (r.trigger_type = 'checkout_abandoned' AND EXISTS (
              SELECT 1 FROM shopify_checkouts k WHERE k.shop_id = r.shop_id AND k.token = r.trigger_subject AND k.completed_at IS NOT NULL)) AS checkout_completed
      FROM flow_runs r
      JOIN flow_versions v ON v.id = r.version_id AND v.flow_id = r.flow_id
      JOIN contacts c ON c.id = r.contact_id AND c.shop_id = r.shop_id
      JOIN shops s ON s.id = r.shop_id
     WHERE r.id = ${o.runId}::bigint AND r.claim_token = ${o.claimToken}::uuid AND r.status = 'active'`;
  if (!run) return { kind: 'lost' };
  const step = run.current_step;
  const settle = async (set: { status: 'exited' | 'completed'; reason?: string } | { step: number; dueAt: Date }): Promise<boolean> => {
    const n =
      'status' in set
        ? await db.$executeRaw`
            UPDATE flow_runs SET status = ${set.status}, exit_reason = ${set.reason ?? null}, next_due_at = NULL, ended_at = ${o.now}::timestamptz,
                   claim_token = NULL, lease_until = NULL, updated_at = now()
             WHERE id = ${o.runId}::bigint AND claim_token = ${o.claimToken}::uuid AND current_step = ${step} AND status = 'active'`
        : await db.$executeRaw`
            UPDATE flow_runs SET current_step = ${set.step}, next_due_at = ${set.dueAt}::timestamptz, claim_token = NULL, lease_until = NULL, updated_at = now()
             WHERE id = ${o.runId}::bigint AND claim_token = ${o.claimToken}::uuid AND current_step = ${step} AND status = 'active'`;
    return n === 1;
  };
  const done = async (outcome: StepOutcome, set: Parameters<typeof settle>[0]): Promise<StepOutcome> => ((await settle(set)) ? outcome : { kind: 'lost' });

  if (run.erased_at) return done({ kind: 'exited', reason: 'contact_erased' }, { status: 'exited', reason: 'contact_erased' });
  if (run.opted_out_at || run.sms_consent === 'unsubscribed') return done({ kind: 'exited', reason: 'opted_out' }, { status: 'exited', reason: 'opted_out' });
  const exit = exitConditionSchema.safeParse(run.exit_condition);
  // A checkout completed is not abandoned any more, whatever the exit condition (docs/flows.md "Execution", 6).
  if (run.checkout_completed || (exit.success && exit.data.orderPlaced && run.ordered_since)) return done({ kind: 'exited', reason: 'order_placed' }, { status: 'exited', reason: 'order_placed' });

  const steps: FlowStep[] = stepsSchema.parse(run.steps);
  if (step >= steps.length) return done({ kind: 'completed' }, { status: 'completed' });
  const current = steps[step]!;
  const next = step + 1;
  const advance = (to: number, dueAt: Date): Promise<StepOutcome> =>
    to >= steps.length ? done({ kind: 'completed' }, { status: 'completed' }) : done({ kind: 'advanced', step: to, dueAt }, { step: to, dueAt });

  if (current.type === 'wait') {
    return advance(next, waitEnd(current, o.now, recipientZones(run.phone_e164, run.timezone, run.shop_timezone)));
  }
  if (current.type === 'condition') {
    if (conditionHolds(current, run)) return advance(next, o.now);
    if (current.otherwise === 'exit') return done({ kind: 'exited', reason: 'condition' }, { status: 'exited', reason: 'condition' });
    // Forward only (validated), so a run visits each step at most once.
    return advance(Math.max(next, current.otherwise.goTo), o.now);
  }
  // send: not executed yet (docs/flows.md); release the claim so the run keeps its place.
  await db.$executeRaw`
    UPDATE flow_runs SET claim_token = NULL, lease_until = NULL, updated_at = now()
     WHERE id = ${o.runId}::bigint AND claim_token = ${o.claimToken}::uuid AND current_step = ${step} AND status = 'active'`;
  return { kind: 'held', step };
}

function conditionHolds(step: ConditionStep, run: RunState): boolean {
  const c = step.check;
  if (c.kind === 'hasOrderedSinceTrigger') return run.ordered_since === c.is;
  if (c.kind === 'consent') return run.sms_consent === c.is;
  return run.tags.map((t) => t.toLowerCase()).includes(c.tag) === c.is;
}
