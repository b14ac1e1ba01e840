// R6's invariants, from Postgres and the simulator's own ledger, once the
// flows are at rest:
//
//  runs       one run per (flow, contact, trigger subject); every customer one
//             welcome run, every open checkout one reminder run, every order
//             one post-purchase run; none left active, every ended run
//             completed or exited with a reason.
//  messages   each run's steps sent at most once and in step order; what a
//             run that completed must have sent; to a provider that does NOT
//             dedup by reference, no reference sent twice; what it took =
//             what we recorded sent + `unknown` rows it did take; `unknown`
//             only for the documented reasons, and never charged unless a
//             report proved it delivered.
//  money      credits debited for the flows = Σ credits of their messages,
//             = segments for every message charged; wallet = ledger.
//  STOP       nothing decided for a contact after its STOP was in force.
//  checkout   an abandoned checkout followed by an order before the delay
//             got no reminder.

import type { Db } from '../../lib/db';
import { keywordReplyReference } from '../../domain/compliance/send-keyword-reply';
import { flowMessageReference } from '../../domain/flows/flow-message-reference';
import type { Person } from './flow-traffic';
import { pool, referenceStats, simulatorStats } from './invariants';
import type { ScenarioReport } from './report';

export interface FlowIds {
  welcome: string;
  checkout: string;
  post: string;
}

/** Send steps of each flow, as the scenario creates them (a completed run sent exactly these). */
export const SEND_STEPS: Record<keyof FlowIds, number[]> = { welcome: [0, 2, 3], checkout: [0], post: [0, 2] };
/** Claims a run needs without chaos: one per step (a wait is a step), the last send completing it. */
const CLAIMS: Record<keyof FlowIds, number> = { welcome: 4, checkout: 1, post: 3 };

/**
 * `unknown` outcomes the design allows (docs/flows.md "Send step"): an attempt
 * killed between its provider call and its settle (`lease_expired`), a run
 * ended by STOP or an order under an attempt in flight (`run_ended`, by
 * reconciliation), and a provider call whose answer never came or could not
 * be read (the adapter's reasons: `timeout_after_send`, `http_5xx`, …).
 */
const documentedUnknown = (code: string | null): boolean =>
  code !== null &&
  (['lease_expired', 'run_ended', 'request_error', 'missing_result', 'unreadable_response', 'unexpected_response_shape', 'accepted_without_id', 'reference_mismatch'].includes(code) ||
    /^[a-z_]+_after_send$|^http_\d{3}$/.test(code));

export interface FlowCheck {
  db: Db;
  simUrl: string;
  shopId: string;
  flows: FlowIds;
  people: Person[];
  /** Person index → contact id. */
  contacts: Map<number, string>;
  /** Person index → a moment the STOP was already in force (seen in Postgres). */
  stoppedAt: Map<number, Date>;
}

interface RunRow {
  id: string;
  flow_id: string;
  contact_id: string;
  trigger_subject: string;
  status: string;
  exit_reason: string | null;
  current_step: number;
  attempt: number;
}

interface MessageRow {
  id: string;
  run_id: string;
  step: number;
  status: string;
  error_code: string | null;
  segments: number | null;
  credits: number;
  provider_message_id: string | null;
  created_at: Date;
  run_status: string;
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const RECORDED_SENT = new Set(['sent', 'delivered', 'undelivered']);

export async function checkFlows(report: ScenarioReport, c: FlowCheck): Promise<void> {
  const { db } = c;
  const runs = await db.$queryRaw<RunRow[]>`
    SELECT id::text, flow_id::text, contact_id::text, trigger_subject, status, exit_reason, current_step, attempt
      FROM flow_runs WHERE shop_id = ${c.shopId}::uuid`;
  const messages = await db.$queryRaw<MessageRow[]>`
    SELECT m.id::text, m.run_id::text, m.step, m.status, m.error_code, m.segments, COALESCE(m.credits, 0)::int AS credits,
           m.provider_message_id, m.created_at, r.status AS run_status
      FROM flow_messages m JOIN flow_runs r ON r.id = m.run_id WHERE m.shop_id = ${c.shopId}::uuid`;
  const kindOf = new Map<string, keyof FlowIds>(Object.entries(c.flows).map(([k, id]) => [id, k as keyof FlowIds]));
  const byRun = new Map<string, MessageRow[]>();
  for (const m of messages) byRun.set(m.run_id, [...(byRun.get(m.run_id) ?? []), m].sort((a, b) => a.step - b.step));
  const runOf = (flow: keyof FlowIds, contactId: string | undefined, subject?: string): RunRow[] =>
    runs.filter((r) => r.flow_id === c.flows[flow] && r.contact_id === contactId && (subject === undefined || r.trigger_subject === subject));

  // Runs: unique per (flow, contact, subject), and the ones each trigger must have started.
  const keys = new Map<string, number>();
  for (const r of runs) keys.set(`${r.flow_id}|${r.contact_id}|${r.trigger_subject}`, (keys.get(`${r.flow_id}|${r.contact_id}|${r.trigger_subject}`) ?? 0) + 1);
  const dupKeys = [...keys.values()].filter((n) => n > 1).length;
  const perKind = (k: keyof FlowIds): number => runs.filter((r) => r.flow_id === c.flows[k]).length;
  report.check('at most one run per (flow, contact, trigger subject)', dupKeys === 0, `${fmt(runs.length)} runs (welcome ${fmt(perKind('welcome'))}, checkout ${fmt(perKind('checkout'))}, post-purchase ${fmt(perKind('post'))}), ${dupKeys} keys with more than one`);

  const missing: string[] = [];
  for (const p of c.people) {
    const contact = c.contacts.get(p.i);
    if (!contact) {
      missing.push(`#${p.i} no contact`);
      continue;
    }
    if (runOf('welcome', contact).length !== 1) missing.push(`#${p.i} ${runOf('welcome', contact).length} welcome runs`);
    if (p.checkout && !p.checkout.ordered && runOf('checkout', contact, p.checkout.token).length !== 1) missing.push(`#${p.i} ${runOf('checkout', contact, p.checkout.token).length} checkout runs`);
    if (p.orderId !== null && runOf('post', contact, String(p.orderId)).length !== 1) missing.push(`#${p.i} ${runOf('post', contact, String(p.orderId)).length} post-purchase runs`);
  }
  const expected = c.people.length + c.people.filter((p) => p.checkout && !p.checkout.ordered).length + c.people.filter((p) => p.orderId !== null).length;
  report.check(
    'every trigger started its run exactly once (each customer a welcome, each open checkout a reminder, each order a post-purchase run)',
    missing.length === 0,
    `${fmt(expected)} runs expected from ${fmt(c.people.length)} customers${missing.length ? `; wrong: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` … (${missing.length})` : ''}` : ''}`,
  );

  const active = runs.filter((r) => r.status === 'active').length;
  const badEnd = runs.filter((r) => (r.status === 'exited') !== (r.exit_reason !== null) || !['active', 'completed', 'exited'].includes(r.status)).length;
  const ends = new Map<string, number>();
  for (const r of runs) ends.set(r.exit_reason ? `exited/${r.exit_reason}` : r.status, (ends.get(r.exit_reason ? `exited/${r.exit_reason}` : r.status) ?? 0) + 1);
  report.check('no run stuck: every run completed or exited with a reason', active === 0 && badEnd === 0, `${[...ends.entries()].map(([k, n]) => `${k} ${fmt(n)}`).join(', ')}; ${badEnd} inconsistent`);

  // What completed runs sent, step by step, in order.
  const wrongSteps: string[] = [];
  let outOfOrder = 0;
  for (const r of runs) {
    const kind = kindOf.get(r.flow_id);
    const ms = byRun.get(r.id) ?? [];
    for (let k = 1; k < ms.length; k++) if (!(ms[k - 1]!.created_at < ms[k]!.created_at)) outOfOrder++;
    if (!kind || r.status !== 'completed') continue;
    const steps = ms.filter((m) => m.status !== 'skipped' && m.status !== 'failed').map((m) => m.step);
    if (steps.join(',') !== SEND_STEPS[kind].join(',')) wrongSteps.push(`${kind} run ${r.id}: steps [${ms.map((m) => `${m.step}:${m.status}`).join(' ')}]`);
  }
  const stepsBySeen = new Map<string, number>();
  for (const m of messages) stepsBySeen.set(`${m.run_id}|${m.step}`, (stepsBySeen.get(`${m.run_id}|${m.step}`) ?? 0) + 1);
  const twice = [...stepsBySeen.values()].filter((n) => n > 1).length;
  report.check(
    'each step of a run sent at most once, in step order; a completed run sent every send step',
    wrongSteps.length === 0 && outOfOrder === 0 && twice === 0,
    `${fmt(messages.length)} messages in ${fmt(byRun.size)} runs: ${twice} (run, step) twice, ${outOfOrder} out of step order, ${wrongSteps.length} completed runs with other steps${wrongSteps.length ? ` (${wrongSteps.slice(0, 3).join('; ')})` : ''}`,
  );
  const expectedEnds: string[] = [];
  for (const p of c.people) {
    const contact = c.contacts.get(p.i);
    const welcome = runOf('welcome', contact)[0];
    if (!p.stop && welcome && welcome.status !== 'completed') expectedEnds.push(`#${p.i} welcome ${welcome.status}/${welcome.exit_reason}`);
    const post = p.orderId !== null ? runOf('post', contact, String(p.orderId))[0] : undefined;
    if (post && post.status !== 'completed') expectedEnds.push(`#${p.i} post-purchase ${post.status}/${post.exit_reason}`);
    const cart = p.checkout && !p.checkout.ordered ? runOf('checkout', contact, p.checkout.token)[0] : undefined;
    if (cart && cart.status !== 'completed') expectedEnds.push(`#${p.i} checkout ${cart.status}/${cart.exit_reason}`);
  }
  report.check('runs nothing should stop all completed (welcome without STOP, open checkouts, post-purchase)', expectedEnds.length === 0, expectedEnds.length ? expectedEnds.slice(0, 8).join(', ') : 'all completed');

  // The provider's side: nothing sent twice, and exactly what we recorded (plus unknowns it took).
  const sim = await simulatorStats(c.simUrl);
  const stats = await pool(messages, 32, (m) => referenceStats(c.simUrl, flowMessageReference(m.id)));
  let recordedWrong = 0;
  let notSentWrong = 0;
  let unknownTaken = 0;
  let inFlightTaken = 0;
  let sends = 0;
  messages.forEach((m, k) => {
    const s = stats[k]!;
    sends += s.sends;
    if (RECORDED_SENT.has(m.status)) {
      if (s.sends !== 1 || s.providerId !== m.provider_message_id) recordedWrong++;
    } else if (m.status === 'unknown') {
      if (s.sends > 1) recordedWrong++;
      unknownTaken += s.sends;
    } else if (m.status === 'sending') {
      if (s.sends > 1) recordedWrong++;
      inFlightTaken += s.sends;
    } else if (s.sends !== 0) notSentWrong++;
  });
  const inFlight = messages.filter((m) => m.status === 'sending');
  // The STOPs' confirmations (`k<id>`) go through the same provider: each at most once too.
  const replies = await db.$queryRaw<{ id: string; status: string; provider_message_id: string | null }[]>`
    SELECT id::text, status, provider_message_id FROM keyword_replies WHERE shop_id = ${c.shopId}::uuid`;
  const replyStats = await pool(replies, 32, (r) => referenceStats(c.simUrl, keywordReplyReference(r.id)));
  const replySends = replyStats.reduce((a, s) => a + s.sends, 0);
  const repliesWrong = replies.filter((r, k) => (replyStats[k]?.sends ?? 0) > 1 || ((r.status === 'sent' || r.status === 'delivered') && replyStats[k]?.providerId !== r.provider_message_id)).length;
  report.check(
    'no reference sent twice to a provider that does not dedup (each flow message f<id> once)',
    sim.duplicatesSent === 0 && sim.messagesAccepted === sim.uniqueReferences,
    `accepted ${fmt(sim.messagesAccepted)}, unique references ${fmt(sim.uniqueReferences)}, sent again ${sim.duplicatesSent} (requests ${fmt(sim.requests)})`,
  );
  const recorded = messages.filter((m) => RECORDED_SENT.has(m.status)).length;
  report.check(
    'provider sends = recorded sends + unknown outcomes it took (+ STOP confirmations); each under our stored id',
    recordedWrong === 0 && notSentWrong === 0 && repliesWrong === 0 && sends + replySends === sim.messagesAccepted && sends === recorded + unknownTaken + inFlightTaken,
    `accepted ${fmt(sim.messagesAccepted)} = flow messages ${fmt(sends)} (recorded ${fmt(recorded)} + unknown taken ${unknownTaken} + in flight taken ${inFlightTaken}) + STOP confirmations ${replySends} of ${replies.length}; ` +
      `${recordedWrong} recorded rows not sent exactly once under their id, ${notSentWrong} failed/skipped rows sent, ${repliesWrong} confirmations wrong`,
  );
  const unknown = messages.filter((m) => m.status === 'unknown');
  const undocumented = unknown.filter((m) => !documentedUnknown(m.error_code));
  const reasons = new Map<string, number>();
  for (const m of unknown) reasons.set(m.error_code ?? '-', (reasons.get(m.error_code ?? '-') ?? 0) + 1);
  report.check(
    '`unknown` outcomes only for documented reasons, never charged',
    undocumented.length === 0 && unknown.every((m) => m.credits === 0),
    `${unknown.length} unknown (${[...reasons.entries()].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}), ${unknown.filter((m) => m.credits !== 0).length} charged`,
  );
  const strandedOk = inFlight.every((m) => m.run_status !== 'active');
  report.check(
    'no message left in flight but under a run that ended meanwhile (reconciliation settles those after 5 min)',
    strandedOk,
    `${inFlight.length} sending (${inFlight.filter((m) => m.run_status !== 'active').length} under an ended run)`,
  );
  // A batched send's mark (the id reserved for a message that may have gone)
  // is cleared by the move that writes its message; one left on a run must
  // have that message row anyway (a STOP's trigger or the next claim wrote it).
  const [marks] = await db.$queryRaw<{ marked: bigint; orphaned: bigint; active: bigint }[]>`
    SELECT count(*) AS marked,
           count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM flow_messages m WHERE m.id = r.sending_message_id AND m.run_id = r.id)) AS orphaned,
           count(*) FILTER (WHERE r.status = 'active') AS active
      FROM flow_runs r WHERE r.shop_id = ${c.shopId}::uuid AND r.sending_message_id IS NOT NULL`;
  report.check(
    'every send mark left on a run has its message row, and no active run holds one at rest',
    marks !== undefined && marks.orphaned === 0n && marks.active === 0n,
    `${marks?.marked ?? 0} runs ended with a mark (a STOP during their send), ${marks?.orphaned ?? 0} without their message, ${marks?.active ?? 0} active`,
  );

  // Money: the ledger's debits for these flows = Σ credits of their messages = segments of each charged message.
  const references = Object.values(c.flows).map((id) => `flow:${id}`);
  const [debit] = await db.$queryRaw<{ debited: bigint | null; rows: bigint }[]>`
    SELECT -sum(amount) AS debited, count(*) AS rows FROM credit_transactions
     WHERE shop_id = ${c.shopId}::uuid AND type = 'debit' AND reference = ANY(${references}::text[])`;
  const credits = messages.reduce((a, m) => a + m.credits, 0);
  const charged = messages.filter((m) => m.credits > 0);
  const wrongCharge = messages.filter((m) =>
    m.status === 'sent' || m.status === 'delivered' ? m.credits !== m.segments : m.status === 'undelivered' ? m.credits !== 0 && m.credits !== m.segments : m.credits !== 0,
  );
  const segmentsCharged = charged.reduce((a, m) => a + (m.segments ?? 0), 0);
  report.check(
    'credits debited for flow messages = Σ segments of the messages charged (sent ones, and unknown ones a report proved delivered)',
    // Rows: one per message on the one-message path, one per flow of a claim on the batched one; never more than the messages charged.
    Number(debit?.debited ?? 0) === credits && credits === segmentsCharged && wrongCharge.length === 0 && Number(debit?.rows ?? 0) <= charged.length,
    `debited ${fmt(Number(debit?.debited ?? 0))} in ${fmt(Number(debit?.rows ?? 0))} ledger rows; Σ credits ${fmt(credits)} over ${fmt(charged.length)} messages, their segments ${fmt(segmentsCharged)}; ${wrongCharge.length} rows charged other than their segments`,
  );

  // STOP: nothing decided for the contact after the STOP was in force.
  const late: string[] = [];
  let heldExited = 0;
  let heldWrong = 0;
  for (const p of c.people) {
    const at = c.stoppedAt.get(p.i);
    if (!p.stop) continue;
    const contact = c.contacts.get(p.i);
    if (!at || !contact) {
      late.push(`#${p.i} STOP never in force`);
      continue;
    }
    const ms = runs.filter((r) => r.contact_id === contact).flatMap((r) => byRun.get(r.id) ?? []);
    for (const m of ms) if (m.created_at > at) late.push(`#${p.i} message ${m.id} (step ${m.step}) created ${m.created_at.toISOString()} > STOP ${at.toISOString()}`);
    if (runs.some((r) => r.contact_id === contact && r.status === 'active')) late.push(`#${p.i} a run still active`);
    if (p.stop === 'held') {
      const w = runOf('welcome', contact)[0];
      if (w?.status === 'exited' && w.exit_reason === 'opted_out' && (byRun.get(w.id) ?? []).every((m) => m.step === 0)) heldExited++;
      else {
        heldWrong++;
        late.push(`#${p.i} held: welcome ${w?.status}/${w?.exit_reason} steps [${(byRun.get(w?.id ?? '') ?? []).map((m) => `${m.step}:${m.status}@${m.created_at.toISOString()}`).join(' ')}], STOP in force ${at.toISOString()}`);
      }
    }
  }
  const [consent] = await db.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM contacts WHERE shop_id = ${c.shopId}::uuid AND sms_consent = 'unsubscribed' AND id = ANY(${[...c.stoppedAt.keys()].map((i) => c.contacts.get(i) ?? '00000000-0000-0000-0000-000000000000')}::uuid[])`;
  const stops = c.people.filter((p) => p.stop).length;
  report.check(
    'STOPped contacts got nothing after their STOP; STOPs between steps exited the run',
    late.length === 0 && heldWrong === 0 && Number(consent?.n ?? 0) === stops,
    `${stops} STOPs, ${Number(consent?.n ?? 0)} contacts unsubscribed; ${heldExited} runs stopped while waiting exited opted_out after step 0 only (${heldWrong} otherwise)${late.length ? `; ${late.slice(0, 4).join('; ')}` : ''}`,
  );

  // Abandoned checkouts followed by an order before the delay: no reminder.
  let orderedRuns = 0;
  let orderedMessages = 0;
  let orderedWrong = 0;
  for (const p of c.people.filter((x) => x.checkout?.ordered)) {
    for (const r of runOf('checkout', c.contacts.get(p.i), p.checkout?.token)) {
      orderedRuns++;
      orderedMessages += (byRun.get(r.id) ?? []).length;
      if (r.status !== 'exited' || r.exit_reason !== 'order_placed') orderedWrong++;
    }
  }
  const orderedCheckouts = c.people.filter((x) => x.checkout?.ordered).length;
  report.check(
    'abandoned checkouts with an order before the delay got no message',
    orderedMessages === 0 && orderedWrong === 0,
    `${orderedCheckouts} such checkouts: ${orderedRuns} runs started (the others refused at the trigger, the order already in), all exited order_placed: ${orderedWrong === 0}, ${orderedMessages} messages`,
  );

  // The chaos must have hit runs mid-flight, or it proved nothing.
  const reclaimed = runs.filter((r) => {
    const kind = kindOf.get(r.flow_id);
    return kind !== undefined && r.attempt > CLAIMS[kind];
  }).length;
  report.check(
    'kills landed mid-run (runs claimed again after their worker died, or sends left unknown by one)',
    reclaimed > 0 || (reasons.get('lease_expired') ?? 0) > 0,
    `${fmt(reclaimed)} runs claimed more often than their steps, ${reasons.get('lease_expired') ?? 0} messages recorded unknown after a killed attempt`,
  );
}
