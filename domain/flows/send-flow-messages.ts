import { setLocal, withoutNestedLoops, type Db, type Tx } from '../../lib/db';
import { flowSendTimeCheck } from './flow-quiet-hours';
import { suppressedNumbers } from '../compliance/suppressions';
import { ProviderError, ProviderRateLimitedError, type OutboundMessage, type SendResult, type SmsEncoding } from '../messaging/providers/provider';
import { shopDisplayName } from '../shops/shop-display-name';
import { debitFlowMessages } from './debit-flow-messages';
import { smartSendingSchema, type SendStep, type SmartSending } from './flow-input';
import { flowMessageReference } from './flow-message-reference';
import { FLOW_HOLD_GRACE_MS, flowClaimHoldKey, holdFlowCredits } from './hold-flow-credits';
import { renderFlowMessage } from './render-flow-message';
import { RUN_EXIT_FACTS } from './run-exit-facts';
import { INSUFFICIENT_CREDITS_RETRY_MS, PROVIDER_RETRY_MS, type DeferReason, type FlowSendContextRow, type FlowSendDeps, type SendOutcome } from './send-flow-message';
import type { RunMove } from './settle-run';
import { runMayGoOnSql } from './run-may-go-on-sql';
import { ordersPlacedSince } from './order-placed-since';
import { triggerOrdersUndone } from './trigger-order-undone';

// The send steps of one claim, together (docs/flows.md "Send step", "Scale"):
// the decisions, guards and outcomes of sendFlowMessage, with set-based
// statements instead of a transaction pair and a provider request per
// message. One transaction decides every run (consent, opt-outs, quiet
// hours, credits, smart sending) and marks each run it sends with the
// message id reserved for it (`flow_runs.sending_message_id`, reference
// `f<id>`) before ONE provider request; one transaction then moves the runs,
// writes every message once, with its outcome, and debits the sent ones (a
// ledger row per flow, one wallet update per shop). A message row written
// `sending` and updated `sent` was two writes through five indexes (half the
// burst's message writes, docs/performance.md "Flows"); the mark is a
// heap-only update of the run. A run this path does not take (a mark or a
// message row of its step exists already: an attempt that died mid-send; a
// second run of the same contact in the claim; a body with links, whose codes
// need the message's id) is handed back for sendFlowMessage, one at a time,
// which turns a mark into the row it stands for.

export interface BatchRun {
  runId: string;
  step: number;
  /** Where the run goes once the step is done. */
  next: RunMove;
  sendStep: SendStep;
  /** Its version's exit condition ends it on a purchase since its trigger (order-placed-since.ts). */
  orderPlaced: boolean;
}

/** Per run: its outcome, or `single` for the one-message path. */
export type BatchOutcome = SendOutcome | { kind: 'single' };

/** What routing a claimed run needs: its step and its exit facts (run-exit-facts.ts). */
export interface RunHead {
  run_id: string;
  version_id: string;
  current_step: number;
  steps: unknown;
  exit_condition: unknown;
  sms_consent: string;
  opted_out_at: Date | null;
  erased_at: Date | null;
  ordered_since: boolean;
  checkout_completed: boolean;
  /** order_cancelled / order_refunded: a post-purchase run's order no longer stands (run-exit-facts.ts). */
  order_undone: string | null;
}

interface Row extends FlowSendContextRow, RunHead {
  step: number;
  trigger_type: string;
  has_message: boolean;
  /** When this run's latest message went out (null before its first): the slot may still hold it. */
  own_last_sent: Date | null;
}

type VersionColumns = Pick<Row, 'steps' | 'exit_condition' | 'smart_sending'>;
type ShopColumns = Pick<
  Row,
  | 'shop_name'
  | 'domain'
  | 'sender_id'
  | 'shop_timezone'
  | 'quiet_hours_start'
  | 'quiet_hours_end'
  | 'opt_out_footer'
  | 'smart_sending_enabled'
  | 'smart_sending_window_hours'
  | 'available'
>;
/** A run's own columns, as the claim's read returns them. */
type RunColumns = Omit<Row, keyof VersionColumns | keyof ShopColumns>;
/**
 * A run as routed and decided: its own columns, its version's steps and exit
 * condition, and its shop's columns by reference (copied onto every run, the
 * shop's 10 columns were ~2 % of the worker's CPU in a burst, profiled).
 */
type ReadRow = RunColumns & Pick<VersionColumns, 'steps' | 'exit_condition'> & { shop: ShopColumns };

interface Move {
  runId: string;
  step: number;
  set: RunMove;
  /** Keeps the run's send mark: a deduplicating provider may hold the message, and the next attempt repeats its reference. */
  keepMark?: boolean;
}

interface Candidate {
  row: ReadRow;
  run: BatchRun;
  text: string;
  segments: number;
  encoding: SmsEncoding;
  enforce: boolean;
  cutoff: Date;
}

interface Sending {
  run: BatchRun;
  row: ReadRow;
  messageId: string;
  text: string;
  segments: number;
  encoding: SmsEncoding;
}

/**
 * `route` decides, per run read under the claim, whether this path sends its
 * step (the run's BatchRun) or the one-message path takes it (null: `single`).
 * A run not read (its claim lost, or no longer active) is `lost`.
 */
export async function sendFlowMessages(
  db: Db,
  deps: FlowSendDeps,
  o: { claimToken: string; now: Date; runIds: string[]; route: (head: RunHead) => BatchRun | null },
): Promise<Map<string, BatchOutcome>> {
  const out = new Map<string, BatchOutcome>();
  if (o.runIds.length === 0) return out;
  const sending = await db.$transaction((tx) => prepare(tx, deps, o, out), { timeout: 30_000 });
  if (sending.length === 0) return counted(deps, out);

  const messages: OutboundMessage[] = sending.map((m) => ({ reference: flowMessageReference(m.messageId), to: m.row.phone_e164 as string, text: m.text, from: m.row.shop.sender_id, encoding: m.encoding, segments: m.segments }));
  let results: SendResult[] | null = null;
  let requestFailed: unknown = null;
  try {
    results = await deps.provider.sendBatch(messages, { traceId: sending[0]?.row.trace_id ?? `flow-claim-${o.claimToken}` });
  } catch (err) {
    requestFailed = err;
  }
  if (deps.afterProviderCall) await deps.afterProviderCall(results?.[0] ?? null);
  const byRef = new Map((results ?? []).map((r) => [r.reference, r]));
  await db.$transaction((tx) => settle(tx, deps, o, sending, byRef, requestFailed, out), { timeout: 30_000 });
  return counted(deps, out);
}

/** flow_messages_total as sendFlowMessage counts it. */
function counted(deps: FlowSendDeps, out: Map<string, BatchOutcome>): Map<string, BatchOutcome> {
  if (!deps.metrics) return out;
  for (const o of out.values()) {
    if (o.kind === 'deferred') deps.metrics.flowMessages.inc({ outcome: 'deferred', reason: o.reason });
    else if (o.kind === 'moved' && o.message !== 'done') deps.metrics.flowMessages.inc({ outcome: o.message, reason: o.reason ?? 'none' });
  }
  return out;
}

async function prepare(
  tx: Tx,
  deps: FlowSendDeps,
  o: { claimToken: string; now: Date; runIds: string[]; route: (head: RunHead) => BatchRun | null },
  out: Map<string, BatchOutcome>,
): Promise<Sending[]> {
  // One read of the claim's runs, routing and deciding them (a read outside
  // to route them, then another, cost 27 ms a claim more). No row locks: a
  // lock is a write to every run (a WAL record each, ~30 % of the read), and
  // every write that follows is guarded by claim, step and status instead;
  // the send mark takes the lock of each run it may send. A run a STOP ended
  // since (the trigger ends runs outside any claim) is neither marked nor
  // moved: lost, with nothing written for it.
  // The version's and the shop's columns are the same for most of a claim's
  // runs (one flow, one shop): read once each, not once per run (14 columns
  // a row, three of them JSON the driver parsed for every run).
  const read = await tx.$queryRaw<RunColumns[]>`
    SELECT r.id::text AS run_id, r.current_step AS step, r.current_step, r.flow_id::text, r.shop_id::text, r.version_id::text, r.contact_id::text, r.triggered_at, r.trace_id, r.trigger_type,
           c.opted_out_at, c.erased_at, ${RUN_EXIT_FACTS},
           c.sms_consent, c.phone_e164, c.timezone, c.first_name, c.last_name,
           (SELECT k.abandoned_checkout_url FROM shopify_checkouts k
             WHERE r.trigger_type = 'checkout_abandoned' AND k.shop_id = r.shop_id AND k.token = r.trigger_subject) AS checkout_url,
           (r.sending_message_id IS NOT NULL OR COALESCE(own.at_step, false)) AS has_message, own.last_sent AS own_last_sent
      FROM flow_runs r
      JOIN contacts c ON c.id = r.contact_id AND c.shop_id = r.shop_id
      -- The run's own messages, in one probe of (run_id, step) for both facts (two subqueries read that index twice per run).
      LEFT JOIN LATERAL (SELECT bool_or(m.step = r.current_step) AS at_step, max(m.sent_at) AS last_sent FROM flow_messages m WHERE m.run_id = r.id) own ON true
     WHERE r.id = ANY(${o.runIds}::bigint[]) AND r.claim_token = ${o.claimToken}::uuid AND r.status = 'active'
     ORDER BY r.id`;
  const versions = new Map<string, VersionColumns>();
  // A version's smart-sending setting, validated once per claim, not per run.
  const smartModes = new Map<string, SmartSending>();
  const shops = new Map<string, ShopColumns>();
  if (read.length > 0) {
    const versionIds = [...new Set(read.map((r) => r.version_id))];
    const shopIds = [...new Set(read.map((r) => r.shop_id))];
    for (const v of await tx.$queryRaw<(VersionColumns & { id: string; flow_id: string })[]>`
      SELECT id::text, flow_id::text, steps, exit_condition, smart_sending FROM flow_versions WHERE id = ANY(${versionIds}::uuid[])`) {
      versions.set(`${v.id}|${v.flow_id}`, { steps: v.steps, exit_condition: v.exit_condition, smart_sending: v.smart_sending });
      const smart = smartSendingSchema.safeParse(v.smart_sending);
      smartModes.set(v.id, smart.success ? smart.data : { mode: 'apply' });
    }
    for (const sh of await tx.$queryRaw<(ShopColumns & { id: string })[]>`
      SELECT s.id::text, s.name AS shop_name, s.domain, s.sender_id, s.timezone AS shop_timezone, s.quiet_hours_start, s.quiet_hours_end, s.opt_out_footer,
             s.smart_sending_enabled, s.smart_sending_window_hours, COALESCE(w.balance - w.reserved, 0)::bigint AS available
        FROM shops s LEFT JOIN credit_wallets w ON w.shop_id = s.id
       WHERE s.id = ANY(${shopIds}::uuid[])`) {
      const { id, ...cols } = sh;
      shops.set(id, cols);
    }
  }
  for (const id of o.runIds) out.set(id, { kind: 'lost' });
  const byId = new Map<string, BatchRun>();
  const rows: ReadRow[] = [];
  for (const cols of read) {
    const version = versions.get(`${cols.version_id}|${cols.flow_id}`);
    const shop = shops.get(cols.shop_id);
    // A run is read with its version and its shop, as the join read it; one whose version is of another flow is not.
    if (!version || !shop) continue;
    const r = cols as ReadRow;
    r.steps = version.steps;
    r.exit_condition = version.exit_condition;
    r.shop = shop;
    const run = o.route(r);
    if (run === null) {
      out.set(r.run_id, { kind: 'single' });
      continue;
    }
    byId.set(r.run_id, run);
    rows.push(r);
  }

  const moves: Move[] = [];
  const skipped: { row: ReadRow; reason: string }[] = [];
  const outcome = (runId: string, o2: BatchOutcome): void => void out.set(runId, o2);
  const skip = (row: ReadRow, reason: string, set: RunMove): void => {
    skipped.push({ row, reason });
    moves.push({ runId: row.run_id, step: row.step, set });
    outcome(row.run_id, { kind: 'moved', move: set, message: 'skipped', reason });
  };
  const defer = (row: ReadRow, dueAt: Date, reason: DeferReason): void => {
    moves.push({ runId: row.run_id, step: row.step, set: { step: row.step, dueAt } });
    outcome(row.run_id, { kind: 'deferred', dueAt, reason });
  };

  // Opt-outs of numbers the shops do not hold, per shop and sender.
  const contacts = new Set<string>();
  const mine: ReadRow[] = [];
  for (const row of rows) {
    // One slot upsert per contact and statement: a second run of the same contact goes the one-message way.
    if (row.has_message || contacts.has(row.contact_id)) {
      outcome(row.run_id, { kind: 'single' });
      continue;
    }
    contacts.add(row.contact_id);
    mine.push(row);
  }
  const suppressed = new Set<string>();
  const groups = new Map<string, ReadRow[]>();
  for (const row of mine) {
    if (row.sms_consent !== 'subscribed' || !row.phone_e164) continue;
    const k = `${row.shop_id}|${row.shop.sender_id}`;
    const g = groups.get(k);
    // Pushed, not spread: a copy per row made this loop quadratic (0.9 s of worker CPU in a 100 000-run burst, profiled).
    if (g) g.push(row);
    else groups.set(k, [row]);
  }
  for (const g of groups.values()) {
    const hit = await suppressedNumbers(tx, deps.phoneHashKey, { shopId: g[0]!.shop_id, senderId: g[0]!.shop.sender_id, phones: g.map((r) => r.phone_e164 as string) });
    for (const r of g) if (hit.has(r.phone_e164 as string)) suppressed.add(r.run_id);
  }

  let eligible: Candidate[] = [];
  // One quiet-hours check per shop: it answers once per set of zones, so a claim's runs share the work (built per run, it repeated it for each).
  const quietChecks = new Map<string, ReturnType<typeof flowSendTimeCheck>>();
  for (const row of mine) {
    const run = byId.get(row.run_id)!;
    if (row.sms_consent !== 'subscribed' || !row.phone_e164) {
      skip(row, 'not_sendable', { status: 'exited', reason: 'not_sendable' });
      continue;
    }
    if (suppressed.has(row.run_id)) {
      skip(row, 'suppressed', { status: 'exited', reason: 'not_sendable' });
      continue;
    }
    let check = quietChecks.get(row.shop_id);
    if (!check) {
      check = flowSendTimeCheck({ timezone: row.shop.shop_timezone, quietStart: row.shop.quiet_hours_start, quietEnd: row.shop.quiet_hours_end }, o.now, { floor: deps.quietHoursFloor ?? true });
      quietChecks.set(row.shop_id, check);
    }
    const quiet = check({ phone: row.phone_e164, timezone: row.timezone });
    if (quiet === 'never') {
      // Quiet hours leave no instant within the bound (flow-quiet-hours.ts): ended, never deferred forever.
      skip(row, 'quiet_hours', { status: 'exited', reason: 'not_sendable' });
      continue;
    }
    if (quiet) {
      defer(row, quiet, 'quiet_hours');
      continue;
    }
    const rendered = renderFlowMessage(
      run.sendStep,
      { firstName: row.first_name, lastName: row.last_name, shopName: shopDisplayName(row.shop.shop_name, row.shop.domain), checkoutUrl: row.checkout_url },
      row.shop.opt_out_footer,
    );
    if (!rendered.ok) {
      skip(row, rendered.reason, run.next);
      continue;
    }
    const mode = smartModes.get(row.version_id) ?? ({ mode: 'apply' } as const);
    const exempt = mode.mode === 'exempt' || (mode.mode === 'exempt_within' && o.now.getTime() < row.triggered_at.getTime() + mode.withinMinutes * 60_000);
    eligible.push({
      row,
      run,
      text: rendered.text,
      segments: rendered.segments,
      encoding: rendered.encoding,
      enforce: row.shop.smart_sending_enabled && !exempt,
      cutoff: new Date(o.now.getTime() - row.shop.smart_sending_window_hours * 3_600_000),
    });
  }

  // A run that an order placed since its trigger, or its checkout's completion, ends (placed or completed since the
  // read) is not sent: checked under its contact's and its checkout's locks, held until this transaction commits its
  // marks (order-placed-since.ts), and handed to the one-message path, whose read ends it (order_placed). Locked
  // before the orders and the runs below, in the writers' order.
  const placed = await ordersPlacedSince(
    tx,
    eligible.map((c) => ({ runId: c.row.run_id, orderPlaced: c.run.orderPlaced, checkout: c.row.trigger_type === 'checkout_abandoned' })),
  );
  if (placed.size > 0) {
    for (const id of placed) outcome(id, { kind: 'single' });
    eligible = eligible.filter((c) => !placed.has(c.row.run_id));
  }

  // A post-purchase run whose order was cancelled or refunded in full since the read is not sent: checked under
  // the orders' locks, held until this transaction commits its marks (trigger-order-undone.ts), and handed to
  // the one-message path, whose read ends it with the reason. Only when the claim has such runs.
  const ofOrders = eligible.filter((c) => c.row.trigger_type === 'order_created').map((c) => c.row.run_id);
  if (ofOrders.length > 0) {
    const undone = await triggerOrdersUndone(tx, ofOrders);
    if (undone.size > 0) {
      for (const id of undone.keys()) outcome(id, { kind: 'single' });
      eligible = eligible.filter((c) => !undone.has(c.row.run_id));
    }
  }

  // Each run that may send is marked with the message id reserved for it
  // (and locked) before its credits and slot are counted; one that then does
  // not send has its mark cleared by its move below.
  const ids = new Map<string, string>();
  if (eligible.length > 0) {
    // The sequence named as a constant: pg_get_serial_sequence is only
    // stable, so it looked the catalog up again for every row (8.6 ms a claim
    // of 1 000 in a burst, against ~1 ms).
    const reserved = await tx.$queryRaw<{ id: bigint }[]>`
      SELECT nextval('flow_messages_id_seq'::regclass) AS id FROM generate_series(1, ${eligible.length}::int)`;
    eligible.forEach((c, i) => ids.set(c.row.run_id, String(reserved[i]!.id)));
    // The claim also made long enough for the provider call: renewed to a
    // full lease unless the claim (just taken, as long) still holds three
    // quarters of one.
    const marked = await withoutNestedLoops(tx, () => tx.$queryRaw<{ id: string }[]>`
      UPDATE flow_runs r
         SET sending_message_id = u.mid, sending_segments = u.segments, updated_at = now(),
             lease_until = CASE WHEN r.lease_until < ${new Date(o.now.getTime() + (deps.leaseMs * 3) / 4)}::timestamptz
                                THEN ${new Date(o.now.getTime() + deps.leaseMs)}::timestamptz ELSE r.lease_until END
        FROM unnest(${eligible.map((c) => c.row.run_id)}::bigint[], ${eligible.map((c) => c.row.step)}::int[],
                    ${eligible.map((c) => ids.get(c.row.run_id)!)}::bigint[], ${eligible.map((c) => c.segments)}::smallint[]) AS u(id, step, mid, segments)
       WHERE r.id = ANY(${eligible.map((c) => c.row.run_id)}::bigint[]) AND r.id = u.id
         AND r.claim_token = ${o.claimToken}::uuid AND r.current_step = u.step AND r.status = 'active'
         -- Read unmarked, and still so under its lock: a second run of the same job (a stalled job handed to
         -- another worker) that read the runs before this mark committed finds them marked and sends none.
         AND r.sending_message_id IS NULL
         -- Its flow paused (or its shop uninstalled) since the step began: not sent; the claim runs out and holds it.
         AND ${runMayGoOnSql}
      RETURNING r.id::text`);
    const isMarked = new Set(marked.map((r) => r.id));
    eligible = eligible.filter((c) => isMarked.has(c.row.run_id));
  }

  // Paid from what no campaign holds, in claim order; then the slot. A
  // capped message costs nothing, so what it was counted for goes to the
  // runs after it that did not fit (another round, while one frees some).
  const left = new Map<string, number>();
  const toSend: Candidate[] = [];
  for (let waiting = eligible; waiting.length > 0; ) {
    const fits: Candidate[] = [];
    const short: Candidate[] = [];
    for (const c of waiting) {
      const available = left.get(c.row.shop_id) ?? Number(c.row.shop.available);
      if (available < c.segments) {
        short.push(c);
        continue;
      }
      left.set(c.row.shop_id, available - c.segments);
      fits.push(c);
    }
    const took = await takeSlots(tx, o.now, fits);
    let freed = false;
    for (const c of fits) {
      if (took.has(c.row.contact_id)) {
        toSend.push(c);
        continue;
      }
      skip(c.row, 'frequency_cap', c.run.next);
      left.set(c.row.shop_id, (left.get(c.row.shop_id) ?? 0) + c.segments);
      freed = true;
    }
    if (!freed) {
      for (const c of short) defer(c.row, new Date(o.now.getTime() + INSUFFICIENT_CREDITS_RETRY_MS), 'insufficient_credits');
      break;
    }
    waiting = short;
  }

  // A skip or deferral of a run that was not marked may find it ended since the read: lost, its skipped row not written.
  const moved = await settleRuns(tx, o.claimToken, o.now, moves);
  for (const m of moves) if (!moved.has(m.runId)) out.set(m.runId, { kind: 'lost' });
  const written = skipped.filter((s) => moved.has(s.row.run_id));
  if (written.length > 0) {
    await tx.$executeRaw`
      INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, skip_reason, trace_id, final_at)
      SELECT run_id, step, shop_id, flow_id, version_id, contact_id, 'skipped', reason, trace_id, ${o.now}::timestamptz
        FROM unnest(${written.map((s) => s.row.run_id)}::bigint[], ${written.map((s) => s.row.step)}::int[], ${written.map((s) => s.row.shop_id)}::uuid[],
                    ${written.map((s) => s.row.flow_id)}::uuid[], ${written.map((s) => s.row.version_id)}::uuid[], ${written.map((s) => s.row.contact_id)}::uuid[],
                    ${written.map((s) => s.reason)}::text[], ${written.map((s) => s.row.trace_id)}::text[])
             AS u(run_id, step, shop_id, flow_id, version_id, contact_id, reason, trace_id)`;
  }
  const held = await holdCredits(tx, deps, o, toSend, out);
  return held.map((c) => ({ run: c.run, row: c.row, messageId: ids.get(c.row.run_id)!, text: c.text, segments: c.segments, encoding: c.encoding }));
}

/**
 * The credits of the claim's sends held before the provider call, under each
 * wallet's lock (hold-flow-credits.ts): the balance the decisions above
 * counted was read without one, and another claim of the shop may be
 * spending it meanwhile. The last statement of the transaction, so a wallet
 * is locked for it and the commit. Sends it cannot hold after all (that
 * race) are deferred as a short balance defers them: marks cleared, slots
 * given back.
 */
async function holdCredits(
  tx: Tx,
  deps: FlowSendDeps,
  o: { claimToken: string; now: Date },
  toSend: Candidate[],
  out: Map<string, BatchOutcome>,
): Promise<Candidate[]> {
  const expiresAt = new Date(o.now.getTime() + deps.leaseMs + FLOW_HOLD_GRACE_MS);
  const fits = await holdFlowCredits(tx, { key: flowClaimHoldKey(o.claimToken), expiresAt, items: toSend.map((c) => ({ shopId: c.row.shop_id, segments: c.segments })) });
  if (fits.size === toSend.length) return toSend;
  const short = toSend.filter((_, i) => !fits.has(i));
  const dueAt = new Date(o.now.getTime() + INSUFFICIENT_CREDITS_RETRY_MS);
  const moved = await settleRuns(tx, o.claimToken, o.now, short.map((c) => ({ runId: c.row.run_id, step: c.row.step, set: { step: c.row.step, dueAt } })));
  for (const c of short) out.set(c.row.run_id, moved.has(c.row.run_id) ? { kind: 'deferred', dueAt, reason: 'insufficient_credits' } : { kind: 'lost' });
  const contacts = short.map((c) => c.row.contact_id);
  await tx.$executeRaw`
    UPDATE contact_send_slots s SET last_at = s.prev_at, prev_at = NULL
     WHERE s.contact_id = ANY(${contacts}::uuid[]) AND s.campaign_id IS NULL AND s.last_at = ${o.now}::timestamptz`;
  return toSend.filter((_, i) => fits.has(i));
}

async function settle(
  tx: Tx,
  deps: FlowSendDeps,
  o: { claimToken: string; now: Date },
  sending: Sending[],
  byRef: Map<string, SendResult>,
  requestFailed: unknown,
  out: Map<string, BatchOutcome>,
): Promise<void> {
  const records: { m: Sending; status: 'sent' | 'failed' | 'unknown'; providerMessageId: string | null; code: string | null }[] = [];
  const moves: Move[] = [];
  const retried: { m: Sending; dueAt: Date; reason: DeferReason; release: boolean }[] = [];
  for (const m of sending) {
    const retry = (ms: number, reason: DeferReason, release: boolean): void => {
      const dueAt = new Date(o.now.getTime() + ms);
      // Released: certainly not sent, the next attempt sends it as new. Kept: the next one repeats its reference.
      moves.push({ runId: m.run.runId, step: m.run.step, set: { step: m.run.step, dueAt }, keepMark: !release });
      retried.push({ m, dueAt, reason, release });
    };
    const record = (status: 'sent' | 'failed' | 'unknown', providerMessageId: string | null, code: string | null): void => {
      moves.push({ runId: m.run.runId, step: m.run.step, set: m.run.next });
      records.push({ m, status, providerMessageId, code });
    };
    if (requestFailed instanceof ProviderError) {
      // Only a ProviderError guarantees nothing was accepted.
      retry(requestFailed instanceof ProviderRateLimitedError ? Math.max(1_000, requestFailed.retryAfterMs) : PROVIDER_RETRY_MS, 'provider_retry', true);
      continue;
    }
    const r = requestFailed !== null ? ({ reference: '', outcome: 'unknown', reason: 'request_error' } as const) : byRef.get(flowMessageReference(m.messageId));
    if (r?.outcome === 'accepted') record('sent', r.providerMessageId, null);
    else if (r?.outcome === 'rejected' && r.permanent) record('failed', null, r.code);
    else if (r?.outcome === 'rejected') retry(PROVIDER_RETRY_MS, 'provider_retry', true);
    else if (deps.provider.dedupsByReference) retry(PROVIDER_RETRY_MS / 2, 'provider_unknown', false);
    else record('unknown', null, r?.outcome === 'unknown' ? r.reason : 'missing_result');
  }
  if (requestFailed instanceof ProviderError) {
    deps.logger?.warn({ messages: sending.length, err: requestFailed.message }, 'flow messages not taken by the provider: the steps are tried again');
  }

  // The runs first: only a run this claim still holds at the step is moved,
  // and only its message is written (a run whose claim was lost keeps its
  // mark, which the attempt that took it over turns into the row).
  const moved = await settleRuns(tx, o.claimToken, o.now, moves);
  for (const r of retried) out.set(r.m.run.runId, moved.has(r.m.run.runId) ? { kind: 'deferred', dueAt: r.dueAt, reason: r.reason } : { kind: 'lost' });
  const mine = records.filter((x) => moved.has(x.m.run.runId));
  for (const x of records) if (!moved.has(x.m.run.runId)) out.set(x.m.run.runId, { kind: 'lost' });
  if (mine.length > 0) {
    await tx.$executeRaw`
      INSERT INTO flow_messages (id, run_id, step, shop_id, flow_id, version_id, contact_id, status, provider_message_id, segments, encoding, credits,
                                 sent_at, final_at, error_code, attempts, trace_id)
      SELECT id, run_id, step, shop_id, flow_id, version_id, contact_id, status, pid, segments, encoding,
             CASE WHEN status = 'sent' THEN segments ELSE 0 END,
             CASE WHEN status = 'sent' THEN ${o.now}::timestamptz END, CASE WHEN status = 'sent' THEN NULL ELSE ${o.now}::timestamptz END, code, 1, trace_id
        FROM unnest(${mine.map((x) => x.m.messageId)}::bigint[], ${mine.map((x) => x.m.row.run_id)}::bigint[], ${mine.map((x) => x.m.run.step)}::int[],
                    ${mine.map((x) => x.m.row.shop_id)}::uuid[], ${mine.map((x) => x.m.row.flow_id)}::uuid[], ${mine.map((x) => x.m.row.version_id)}::uuid[],
                    ${mine.map((x) => x.m.row.contact_id)}::uuid[], ${mine.map((x) => x.status)}::text[], ${mine.map((x) => x.providerMessageId)}::text[],
                    ${mine.map((x) => x.m.segments)}::smallint[], ${mine.map((x) => x.m.encoding)}::text[], ${mine.map((x) => (x.code === null ? null : x.code.slice(0, 200)))}::text[],
                    ${mine.map((x) => x.m.row.trace_id)}::text[])
             AS u(id, run_id, step, shop_id, flow_id, version_id, contact_id, status, pid, segments, encoding, code, trace_id)`;
    for (const x of mine) {
      if (x.status === 'sent') out.set(x.m.run.runId, { kind: 'moved', move: x.m.run.next, message: 'sent' });
      else if (x.status === 'failed') out.set(x.m.run.runId, { kind: 'moved', move: x.m.run.next, message: 'failed', reason: 'rejected' });
      else out.set(x.m.run.runId, { kind: 'moved', move: x.m.run.next, message: 'unknown', reason: 'provider_unknown' });
    }
  }
  // A permanent rejection, and a message certainly not sent that the run tries
  // again (a refused request, a transient rejection), give back the slot it
  // took (if no other message took it since): else the retry, a fresh send,
  // would find its own untaken message in the slot and skip as capped.
  const gaveBack = [
    ...mine.filter((x) => x.status === 'failed').map((x) => x.m.row.contact_id),
    ...retried.filter((r) => r.release && moved.has(r.m.run.runId)).map((r) => r.m.row.contact_id),
  ];
  if (gaveBack.length > 0) {
    await tx.$executeRaw`
      UPDATE contact_send_slots s SET last_at = s.prev_at, prev_at = NULL
        FROM unnest(${gaveBack}::uuid[]) AS u(contact_id)
       WHERE s.contact_id = ANY(${gaveBack}::uuid[]) AND s.contact_id = u.contact_id AND s.campaign_id IS NULL AND s.last_at = ${o.now}::timestamptz`;
  }
  const unknown = mine.filter((x) => x.status === 'unknown').length;
  if (unknown > 0) deps.logger?.warn({ messages: unknown }, 'flow message outcome unknown: not re-sent, not charged');
  const charge = mine.filter((x) => x.status === 'sent').map((x) => x.m);
  // Every shop of the claim's sends has a hold to close, charged or not.
  const held = [...new Set(sending.map((m) => m.row.shop_id))];
  // The charge is the transaction's last statement: every settle of the shop
  // (flows and campaigns) locks its wallet row, which is then held only until
  // the commit, and that commit does not wait for the WAL flush (as a
  // campaign settle's; lost with a crash, the claim's lease runs out and the
  // run's mark is re-sent by reference or recorded `unknown`, never charged).
  // Charged first, the lock was held through the run updates and concurrent
  // claims of one shop queued on it (1.5 s a statement in the 100 000-run burst).
  if (held.length > 0) {
    await setLocal(tx, { asyncCommit: true });
    await chargeSent(tx, deps, o.claimToken, held, charge);
  }
}

/**
 * Debits messages this settle wrote `sent`, shop by shop, out of the claim's
 * hold of each shop (`held`: closed here, charged or not); a message the
 * wallet could not cover keeps what it was charged.
 */
async function chargeSent(tx: Tx, deps: FlowSendDeps, claimToken: string, held: string[], mine: Sending[]): Promise<void> {
  const shops = [...held].sort();
  const short: { id: string; charge: number }[] = [];
  let credits = 0;
  // Wallets in one order, so two claims of the same shops never wait on each other crosswise.
  for (const shop of shops) {
    const of = mine.filter((m) => m.row.shop_id === shop);
    const charged = await debitFlowMessages(
      tx,
      shop,
      claimToken,
      of.map((m) => ({ messageId: m.messageId, flowId: m.row.flow_id, segments: m.segments, traceId: m.row.trace_id })),
      flowClaimHoldKey(claimToken),
    );
    for (const m of of) {
      const c = charged.get(m.messageId) ?? 0;
      credits += c;
      if (c < m.segments) short.push({ id: m.messageId, charge: c });
    }
  }
  if (short.length > 0) {
    await tx.$executeRaw`
      UPDATE flow_messages m SET credits = u.charge FROM unnest(${short.map((s) => s.id)}::bigint[], ${short.map((s) => s.charge)}::int[]) AS u(id, charge) WHERE m.id = u.id`;
    deps.logger?.error({ flowMessageIds: short.map((s) => s.id).slice(0, 20), count: short.length }, 'flow messages sent but the wallet could not cover them: charged what it could');
  }
  deps.metrics?.flowCredits.inc(credits);
}

/**
 * Smart sending: every message takes its contact's slot, guarded per row as
 * sendFlowMessage guards it (with the cap on and the flow not exempt: the
 * window, or the slot still holding this run's own last message, the merchant
 * having chosen the waits between a flow's steps). Returns the contacts whose
 * slot was taken. One candidate per contact (the caller's rule: ON CONFLICT
 * touches a row once per statement).
 *
 * One statement per window (the shops' windows, or none where the cap does
 * not apply: a handful per claim), so the guard compares with a constant and
 * with the row's own EXCLUDED values. A per-row lookup into the claim's list
 * instead scanned the list once per existing slot: 77 ms a claim of 1 000
 * contacts who all had slots, 7.7 s of a 100 000-run burst (measured).
 * The run's own last send rides in as the new row's `prev_at`, which is what
 * a slot row created here should hold anyway: the send before this one.
 */
async function takeSlots(tx: Tx, now: Date, candidates: Candidate[]): Promise<Set<string>> {
  const taken = new Set<string>();
  const byWindow = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const k = c.enforce ? String(c.cutoff.getTime()) : 'off';
    const g = byWindow.get(k);
    if (g) g.push(c);
    else byWindow.set(k, [c]);
  }
  for (const group of byWindow.values()) {
    const enforce = group[0]!.enforce;
    const slots = await tx.$queryRaw<{ contact_id: string }[]>`
      INSERT INTO contact_send_slots AS s (contact_id, shop_id, campaign_id, last_at, prev_at)
      SELECT contact_id, shop_id, NULL, ${now}::timestamptz, own
        FROM unnest(${group.map((c) => c.row.contact_id)}::uuid[], ${group.map((c) => c.row.shop_id)}::uuid[], ${group.map((c) => c.row.own_last_sent)}::timestamptz[])
             AS u(contact_id, shop_id, own)
       ORDER BY contact_id
      ON CONFLICT (contact_id) DO UPDATE SET prev_at = s.last_at, last_at = EXCLUDED.last_at, campaign_id = NULL
       WHERE NOT ${enforce}::boolean OR s.last_at IS NULL OR s.last_at <= ${group[0]!.cutoff}::timestamptz OR s.last_at = EXCLUDED.prev_at
      RETURNING contact_id::text`;
    for (const r of slots) taken.add(r.contact_id);
  }
  return taken;
}

/**
 * settleRun for many runs in one statement: each moves only under this claim,
 * from the step it was read at, its send mark cleared unless `keepMark`
 * (the caller writes the message a cleared mark stood for, in the same
 * transaction, or knows none went out). Returns the run ids moved. The runs are found
 * by key and the inputs hashed (withoutNestedLoops): the planner expected one
 * row for the claim token, scanned flow_runs and looped the inputs over each
 * run (1.2 s for a claim of 1 000 among 100 000 runs, measured).
 */
export async function settleRuns(tx: Tx, claimToken: string, now: Date, moves: Move[]): Promise<Set<string>> {
  if (moves.length === 0) return new Set();
  const ended = (m: Move): m is Move & { set: Extract<RunMove, { status: string }> } => 'status' in m.set;
  const rows = await withoutNestedLoops(tx, () => tx.$queryRaw<{ id: string }[]>`
    UPDATE flow_runs r
       SET status = COALESCE(u.status, 'active'), exit_reason = u.reason, current_step = COALESCE(u.to_step, r.current_step),
           next_due_at = u.due, ended_at = CASE WHEN u.status IS NULL THEN NULL ELSE ${now}::timestamptz END,
           claim_token = NULL, lease_until = NULL, updated_at = now(),
           sending_message_id = CASE WHEN u.keep THEN r.sending_message_id END, sending_segments = CASE WHEN u.keep THEN r.sending_segments END
      FROM unnest(${moves.map((m) => m.runId)}::bigint[], ${moves.map((m) => m.step)}::int[], ${moves.map((m) => m.keepMark === true)}::boolean[],
                  ${moves.map((m) => (ended(m) ? m.set.status : null))}::text[], ${moves.map((m) => (ended(m) ? (m.set.reason ?? null) : null))}::text[],
                  ${moves.map((m) => (ended(m) ? null : (m.set as { step: number }).step))}::int[],
                  ${moves.map((m) => (ended(m) ? null : (m.set as { dueAt: Date }).dueAt))}::timestamptz[])
           AS u(id, step, keep, status, reason, to_step, due)
     WHERE r.id = ANY(${moves.map((m) => m.runId)}::bigint[]) AND r.id = u.id
       AND r.claim_token = ${claimToken}::uuid AND r.current_step = u.step AND r.status = 'active'
    RETURNING r.id::text`);
  return new Set(rows.map((r) => r.id));
}
