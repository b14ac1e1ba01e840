import type { Db, DbOrTx } from '../../lib/db';
import { isOrderUndone, type OrderUndone } from '../orders/order-undone-sql';
import { recipientZones } from '../compliance/recipient-time-zone';
import { stepsSchema, exitConditionSchema, type ConditionStep, type FlowStep } from './flow-input';
import { waitEnd } from './plan-start';
import { sendFlowMessage, type DeferReason, type FlowSendDeps } from './send-flow-message';
import { settleRun, type RunMove } from './settle-run';
import { RUN_EXIT_FACTS } from './run-exit-facts';
import { runOrderFacts } from './order-placed-since';
import { runMayGoOnSql } from './run-may-go-on-sql';

/** What a send step recorded for its message (flow_messages.status), on the outcome that moved the run. */
export type MessageOutcome = 'sent' | 'failed' | 'unknown' | 'skipped' | 'done';

export type StepOutcome =
  | { kind: 'lost' }
  | { kind: 'exited'; reason: 'opted_out' | 'contact_erased' | 'order_placed' | 'condition' | 'not_sendable' | OrderUndone; message?: MessageOutcome }
  | { kind: 'completed'; message?: MessageOutcome }
  | { kind: 'advanced'; step: number; dueAt: Date; message?: MessageOutcome }
  /** A send step that must wait (quiet hours, credits, the provider): same step, due again at `dueAt`. */
  | { kind: 'deferred'; step: number; dueAt: Date; reason: DeferReason }
  /**
   * The claim is released and the run stays due at its step: a send step with no provider to send through (a process
   * without one), or a run whose flow was paused (or shop uninstalled) since the claim.
   */
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
  trigger_type: string;
  ordered_since: boolean;
  checkout_completed: boolean;
  order_undone: string | null;
  may_go: boolean;
}

/**
 * Executes the current step of one claimed run, once: the run is read under
 * the claim and every settle is `WHERE id AND claim_token AND current_step`,
 * so only the holder of this claim moves the run, and only from the step it
 * read (a second job with the same claim, or a late one after a re-claim,
 * finds nothing to do). Exit conditions come first: a contact opted out or
 * erased, an order after the trigger when the version's exit condition says
 * so, or (abandoned checkout) the checkout completed, ends the run before
 * any step; a post-purchase run whose order was cancelled or refunded in full
 * ends before any step while a send step is still ahead of it (one that sent
 * its last message finishes as it would have).
 */
export async function executeFlowStep(db: Db, o: { runId: string; claimToken: string; now: Date; send?: FlowSendDeps }): Promise<StepOutcome> {
  const [run] = await db.$queryRaw<RunState[]>`
    SELECT r.shop_id::text, r.current_step, r.triggered_at, v.steps, v.exit_condition,
           c.sms_consent, c.opted_out_at, c.erased_at, c.phone_e164, c.timezone, c.tags, s.timezone AS shop_timezone, r.trigger_type,
           ${RUN_EXIT_FACTS}, ${runMayGoOnSql} AS may_go
      FROM flow_runs r
      JOIN flow_versions v ON v.id = r.version_id AND v.flow_id = r.flow_id
      JOIN contacts c ON c.id = r.contact_id AND c.shop_id = r.shop_id
      JOIN shops s ON s.id = r.shop_id
     WHERE r.id = ${o.runId}::bigint AND r.claim_token = ${o.claimToken}::uuid AND r.status = 'active'`;
  if (!run) return { kind: 'lost' };
  const step = run.current_step;
  // The job's check of the claim ran before the runs sent ahead of this one: a pause or an uninstall since holds it too.
  if (!run.may_go) return releaseClaim(db, o, step);
  const settle = (set: RunMove): Promise<boolean> => settleRun(db, { runId: o.runId, claimToken: o.claimToken, step, now: o.now }, set);
  const done = async (outcome: StepOutcome, set: Parameters<typeof settle>[0]): Promise<StepOutcome> => ((await settle(set)) ? outcome : { kind: 'lost' });

  if (run.erased_at) return done({ kind: 'exited', reason: 'contact_erased' }, { status: 'exited', reason: 'contact_erased' });
  if (run.opted_out_at || run.sms_consent === 'unsubscribed') return done({ kind: 'exited', reason: 'opted_out' }, { status: 'exited', reason: 'opted_out' });
  const exit = exitConditionSchema.safeParse(run.exit_condition);
  const exits = { orderPlaced: exit.success && exit.data.orderPlaced, checkout: run.trigger_type === 'checkout_abandoned' };
  // A checkout completed is not abandoned any more, whatever the exit condition (docs/flows.md "Execution", 6).
  // This read has no lock: the send step and a hasOrderedSinceTrigger condition check both again under one (order-placed-since.ts).
  if (run.checkout_completed || (exits.orderPlaced && run.ordered_since)) return done({ kind: 'exited', reason: 'order_placed' }, { status: 'exited', reason: 'order_placed' });

  const steps: FlowStep[] = stepsSchema.parse(run.steps);
  if (step >= steps.length) return done({ kind: 'completed' }, { status: 'completed' });
  // The send step checks it again under the order's lock (trigger-order-undone.ts); this read has none.
  const undone = run.order_undone;
  if (isOrderUndone(undone) && steps.slice(step).some((s) => s.type === 'send')) return done({ kind: 'exited', reason: undone }, { status: 'exited', reason: undone });
  const current = steps[step]!;
  const next = step + 1;
  const advance = (to: number, dueAt: Date): Promise<StepOutcome> =>
    to >= steps.length ? done({ kind: 'completed' }, { status: 'completed' }) : done({ kind: 'advanced', step: to, dueAt }, { step: to, dueAt });

  if (current.type === 'wait') {
    return advance(next, waitEnd(current, o.now, recipientZones(run.phone_e164, run.timezone, run.shop_timezone), run.shop_timezone));
  }
  if (current.type === 'condition') {
    const check = current.check;
    if (check.kind === 'hasOrderedSinceTrigger') return decideOrderCondition(db, o, { step, steps, exits }, current, check.is);
    return settleCondition(db, o, { step, steps }, current, conditionHolds(check, run));
  }
  // No provider in this process: the run keeps its place and due time.
  if (!o.send) return releaseClaim(db, o, step);
  const to: RunMove = next >= steps.length ? { status: 'completed' } : { step: next, dueAt: o.now };
  const sent = await sendFlowMessage(db, o.send, { runId: o.runId, claimToken: o.claimToken, step, now: o.now, next: to, exits }, current);
  if (sent.kind === 'lost') return sent;
  if (sent.kind === 'held') return { kind: 'held', step };
  if (sent.kind === 'deferred') return { kind: 'deferred', step, dueAt: sent.dueAt, reason: sent.reason };
  const m = sent.move;
  if ('step' in m) return { kind: 'advanced', step: m.step, dueAt: m.dueAt, message: sent.message };
  if (m.status === 'completed') return { kind: 'completed', message: sent.message };
  return { kind: 'exited', reason: isOrderUndone(m.reason) || m.reason === 'order_placed' ? m.reason : 'not_sendable', message: sent.message };
}

async function releaseClaim(db: Db, o: { runId: string; claimToken: string }, step: number): Promise<StepOutcome> {
  const n = await db.$executeRaw`
    UPDATE flow_runs SET claim_token = NULL, lease_until = NULL, updated_at = now()
     WHERE id = ${o.runId}::bigint AND claim_token = ${o.claimToken}::uuid AND current_step = ${step} AND status = 'active'`;
  return n === 1 ? { kind: 'held', step } : { kind: 'lost' };
}

/** A consent or tag condition, on the run as read (hasOrderedSinceTrigger is decided under locks: decideOrderCondition). */
function conditionHolds(c: Exclude<ConditionStep['check'], { kind: 'hasOrderedSinceTrigger' }>, run: RunState): boolean {
  if (c.kind === 'consent') return run.sms_consent === c.is;
  return run.tags.map((t) => t.toLowerCase()).includes(c.tag) === c.is;
}

/** Where a condition step moves the run: on when it holds, else out or forward to its goTo. */
function conditionMove(at: { step: number; steps: FlowStep[] }, current: ConditionStep, holds: boolean, now: Date): [StepOutcome, RunMove] {
  if (!holds && current.otherwise === 'exit') return [{ kind: 'exited', reason: 'condition' }, { status: 'exited', reason: 'condition' }];
  // Forward only (validated), so a run visits each step at most once.
  const to = holds || current.otherwise === 'exit' ? at.step + 1 : Math.max(at.step + 1, current.otherwise.goTo);
  return to >= at.steps.length ? [{ kind: 'completed' }, { status: 'completed' }] : [{ kind: 'advanced', step: to, dueAt: now }, { step: to, dueAt: now }];
}

async function settleCondition(db: DbOrTx, o: { runId: string; claimToken: string; now: Date }, at: { step: number; steps: FlowStep[] }, current: ConditionStep, holds: boolean): Promise<StepOutcome> {
  const [outcome, set] = conditionMove(at, current, holds, o.now);
  return (await settleRun(db, { runId: o.runId, claimToken: o.claimToken, step: at.step, now: o.now }, set)) ? outcome : { kind: 'lost' };
}

/**
 * hasOrderedSinceTrigger, decided and settled in one transaction under the
 * contact's (and an abandoned checkout's) row lock, as a send step decides
 * (order-placed-since.ts): an order committing meanwhile is seen here or
 * waits until the run has moved, so a run never goes on as "has not
 * ordered" (or jumps past the steps for buyers) on a read that missed an
 * order already committed. An order or a completion seen here that the
 * run's exits end it on ends it (order_placed), as at the step's start.
 */
async function decideOrderCondition(
  db: Db,
  o: { runId: string; claimToken: string; now: Date },
  at: { step: number; steps: FlowStep[]; exits: { orderPlaced: boolean; checkout: boolean } },
  current: ConditionStep,
  is: boolean,
): Promise<StepOutcome> {
  return db.$transaction(async (tx) => {
    const facts = await runOrderFacts(tx, { runId: o.runId, checkout: at.exits.checkout });
    if (!facts) return { kind: 'lost' } as const;
    const run = { runId: o.runId, claimToken: o.claimToken, step: at.step, now: o.now };
    if (facts.checkoutCompleted || (at.exits.orderPlaced && facts.orderedSince)) {
      return (await settleRun(tx, run, { status: 'exited', reason: 'order_placed' })) ? ({ kind: 'exited', reason: 'order_placed' } as const) : ({ kind: 'lost' } as const);
    }
    return settleCondition(tx, o, at, current, facts.orderedSince === is);
  });
}
