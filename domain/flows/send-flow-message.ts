import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { suppressedNumbers } from '../compliance/suppressions';
import { DEV_TRACKED_LINKS, flowShortLink, sampleShortLink, type TrackedLinks } from '../links/link-code';
import { ProviderError, ProviderRateLimitedError, type OutboundMessage, type SendResult, type SmsEncoding, type SmsProvider } from '../messaging/providers/provider';
import { closeFlowHold } from './close-flow-hold';
import { debitFlowMessage } from './debit-flow-message';
import { smartSendingSchema, type SendStep } from './flow-input';
import { flowMessageReference } from './flow-message-reference';
import { FLOW_HOLD_GRACE_MS, flowMessageHoldKey, holdFlowCredits } from './hold-flow-credits';
import { renderFlowMessage } from './render-flow-message';
import type { OrderUndone } from '../orders/order-undone-sql';
import { runMayGoOnSql } from './run-may-go-on-sql';
import { flowSendTimeCheck, type SendTime } from './flow-quiet-hours';
import { settleRun, type RunMove } from './settle-run';
import { ordersPlacedSince } from './order-placed-since';
import { triggerOrdersUndone } from './trigger-order-undone';
import { shopDisplayName } from '../shops/shop-display-name';

/** A run that cannot pay for its message is looked at again this much later (docs/flows.md "Send step"). */
export const INSUFFICIENT_CREDITS_RETRY_MS = 3_600_000;
/** A provider that refused the request as a whole, or a transient rejection: the step is tried again this much later. */
export const PROVIDER_RETRY_MS = 60_000;

export interface FlowSendDeps {
  provider: SmsProvider;
  /** PHONE_HASH_KEY: opt-outs a shop does not hold as contacts are keyed hashes (sms_suppressions). */
  phoneHashKey: string;
  /** How long a run's claim is renewed for when its message row is written (the provider call must fit in it). */
  leaseMs: number;
  /** The US/CA 08:00–21:00 floor of quiet hours (SMS_QUIET_HOURS_FLOOR): on unless a test turns it off. */
  quietHoursFloor?: boolean;
  metrics?: Pick<Metrics, 'flowMessages' | 'flowCredits'>;
  logger?: Logger;
  /** Short-link base and signing key (trackedLinksOf(config)); the development ones when absent. */
  links?: TrackedLinks;
  /** Fault-injection seam for tests: after the provider answered, before the settle (where a crash is most dangerous); a claim's batch gives its first result. */
  afterProviderCall?: (result: SendResult | null) => void | Promise<void>;
}

export type DeferReason = 'quiet_hours' | 'insufficient_credits' | 'provider_retry' | 'provider_unknown';

export type SendOutcome =
  | { kind: 'lost' }
  /** The run moved on (or ended) with the message recorded as `message`. */
  | { kind: 'moved'; move: RunMove; message: 'sent' | 'failed' | 'unknown' | 'skipped' | 'done'; reason?: string }
  /** The run stays at the step, due again at `dueAt`. */
  | { kind: 'deferred'; dueAt: Date; reason: DeferReason }
  /** Its flow paused or its shop uninstalled since the claim: nothing sent, the claim released, the run keeps its place and due time. */
  | { kind: 'held' };

/** What a send step reads of its run, contact, shop and wallet (one row; send-flow-messages.ts reads many). */
export interface FlowSendContextRow {
  flow_id: string;
  shop_id: string;
  version_id: string;
  contact_id: string;
  triggered_at: Date;
  trace_id: string | null;
  smart_sending: unknown;
  sms_consent: string;
  phone_e164: string | null;
  timezone: string | null;
  first_name: string | null;
  last_name: string | null;
  shop_name: string | null;
  domain: string;
  sender_id: string;
  shop_timezone: string;
  quiet_hours_start: string;
  quiet_hours_end: string;
  opt_out_footer: boolean;
  smart_sending_enabled: boolean;
  smart_sending_window_hours: number;
  checkout_url: string | null;
  available: bigint;
}

interface SendRow extends FlowSendContextRow {
  link_no: bigint;
  message_id: bigint | null;
  message_status: string | null;
  message_claim: string | null;
  message_body: string | null;
  message_segments: number | null;
  message_encoding: SmsEncoding | null;
  /** The send mark of a batched attempt (send-flow-messages.ts): the message id it reserved for this step, and its segments. */
  mark_id: bigint | null;
  mark_segments: number | null;
  trigger_type: string;
  may_go: boolean;
}

interface ToSend {
  messageId: string;
  message: OutboundMessage;
  segments: number;
  flowId: string;
  shopId: string;
  contactId: string;
  traceId: string | null;
  resend: boolean;
  /** When this attempt took the contact's send slot (given back if the provider refuses the message). */
  slotAt: Date | null;
  /** The credits held for it (hold-flow-credits.ts); for a message that may have gone already, what its earlier attempt held (charged as far as that and the balance go). */
  holdKey: string | null;
}

class LostClaim extends Error {}
/** The wallet could not hold the message's credits after all (another claim of the shop spent them): nothing of the attempt is kept. */
class ShortOfCredits extends Error {}

interface RunRef {
  runId: string;
  claimToken: string;
  step: number;
  now: Date;
  /** Where the run goes once the step is done: the next step due now, or completed. */
  next: RunMove;
  /** The "order placed" exits that apply to the run (order-placed-since.ts): its version's `orderPlaced`, and an abandoned checkout's completion. */
  exits: { orderPlaced: boolean; checkout: boolean };
}

/**
 * The send step of one claimed run (docs/flows.md "Send step"): decide under
 * the run's claim (consent, the sender's opt-outs, the recipient's quiet
 * hours, credits, smart sending) and write the `flow_messages` row BEFORE
 * the provider call; ONE provider call with reference `f<id>`; then ONE
 * transaction that records the outcome, debits Σ segments (ledger key
 * `flow-msg-<id>`) and moves the run on, guarded by the claim and the step.
 * A run whose claim was lost meanwhile moves nothing; the next claim finds
 * the row `sending` and re-sends it only to a provider that dedups by
 * reference, otherwise records it `unknown`: a message is never sent twice
 * and never charged twice.
 */
export async function sendFlowMessage(db: Db, deps: FlowSendDeps, run: RunRef, step: SendStep): Promise<SendOutcome> {
  let prepared: SendOutcome | ToSend;
  try {
    prepared = await db.$transaction((tx) => prepare(tx, deps, run, step));
  } catch (err) {
    if (err instanceof LostClaim) return { kind: 'lost' };
    if (!(err instanceof ShortOfCredits)) throw err;
    // Rolled back (its row, its slot): deferred as when the balance read short.
    const dueAt = new Date(run.now.getTime() + INSUFFICIENT_CREDITS_RETRY_MS);
    prepared = (await settleRun(db, run, { step: run.step, dueAt })) ? { kind: 'deferred', dueAt, reason: 'insufficient_credits' } : { kind: 'lost' };
  }
  if (!('messageId' in prepared)) {
    count(deps, prepared);
    return prepared;
  }
  const m = prepared;
  let result: SendResult | null = null;
  let requestFailed: unknown = null;
  try {
    [result = null] = await deps.provider.sendBatch([m.message], { traceId: m.traceId ?? `flow-run-${run.runId}` });
  } catch (err) {
    requestFailed = err;
  }
  if (deps.afterProviderCall) await deps.afterProviderCall(result);
  const outcome = await settle(db, deps, run, m, result, requestFailed).catch(async (err: unknown) => {
    if (!(err instanceof LostClaim)) throw err;
    // The settle rolled back with its claim; its hold is given back now rather than when it expires.
    const holdKey = m.holdKey;
    if (holdKey) await db.$transaction((tx) => closeFlowHold(tx, { shopId: m.shopId, key: holdKey, segments: 0 }));
    return { kind: 'lost' } as const;
  });
  count(deps, outcome);
  return outcome;
}

async function prepare(tx: Tx, deps: FlowSendDeps, run: RunRef, step: SendStep): Promise<SendOutcome | ToSend> {
  // An order placed (or the checkout completed) since the step's read, checked under the contact's and the checkout's
  // locks, taken before the run's as every writer reaching both takes them: an order committing now is either seen
  // here or waits for this decision (order-placed-since.ts).
  const placed = (await ordersPlacedSince(tx, [{ runId: run.runId, ...run.exits }])).has(run.runId);
  const [r] = await tx.$queryRaw<SendRow[]>`
    SELECT r.flow_id::text, r.shop_id::text, r.version_id::text, v.link_no, r.contact_id::text, r.triggered_at, r.trace_id, v.smart_sending,
           c.sms_consent, c.phone_e164, c.timezone, c.first_name, c.last_name,
           s.name AS shop_name, s.domain, s.sender_id, s.timezone AS shop_timezone, s.quiet_hours_start, s.quiet_hours_end, s.opt_out_footer,
           s.smart_sending_enabled, s.smart_sending_window_hours,
           (SELECT k.abandoned_checkout_url FROM shopify_checkouts k
             WHERE r.trigger_type = 'checkout_abandoned' AND k.shop_id = r.shop_id AND k.token = r.trigger_subject) AS checkout_url,
           COALESCE(w.balance - w.reserved, 0)::bigint AS available,
           m.id AS message_id, m.status AS message_status, m.claim_token::text AS message_claim, m.body AS message_body,
           m.segments AS message_segments, m.encoding AS message_encoding, r.sending_message_id AS mark_id, r.sending_segments AS mark_segments,
           r.trigger_type, ${runMayGoOnSql} AS may_go
      FROM flow_runs r
      JOIN flow_versions v ON v.id = r.version_id AND v.flow_id = r.flow_id
      JOIN contacts c ON c.id = r.contact_id AND c.shop_id = r.shop_id
      JOIN shops s ON s.id = r.shop_id
      LEFT JOIN credit_wallets w ON w.shop_id = r.shop_id
      LEFT JOIN flow_messages m ON m.run_id = r.id AND m.step = r.current_step
     WHERE r.id = ${run.runId}::bigint AND r.claim_token = ${run.claimToken}::uuid AND r.status = 'active' AND r.current_step = ${run.step}
       FOR UPDATE OF r`;
  if (!r) throw new LostClaim();
  // Checked here, in the transaction that decides to send, and not only when the job began: the runs of a claim
  // sent one at a time before this one took a provider call each, and a pause or an uninstall may have committed
  // meanwhile. A mark or a row left `sending` stays as it is for the attempt that resumes the run.
  if (!r.may_go) {
    const released = await tx.$executeRaw`
      UPDATE flow_runs SET claim_token = NULL, lease_until = NULL, updated_at = now()
       WHERE id = ${run.runId}::bigint AND claim_token = ${run.claimToken}::uuid AND current_step = ${run.step} AND status = 'active'`;
    if (released !== 1) throw new LostClaim();
    return { kind: 'held' };
  }
  if (placed) return endForOrder(tx, run, r, 'order_placed');
  // A post-purchase run whose order was cancelled or refunded in full ends here, under the order's lock, so a
  // cancellation committing now is either seen or waits for this decision (trigger-order-undone.ts).
  const undone = r.trigger_type === 'order_created' ? (await triggerOrdersUndone(tx, [run.runId])).get(run.runId) : undefined;
  if (undone) return endForOrder(tx, run, r, undone);
  const move = async (set: RunMove, o: Omit<Extract<SendOutcome, { kind: 'moved' }>, 'kind' | 'move'>): Promise<SendOutcome> => {
    if (!(await settleRun(tx, run, set))) throw new LostClaim();
    return { kind: 'moved', move: set, ...o };
  };
  const defer = async (dueAt: Date, reason: DeferReason): Promise<SendOutcome> => {
    if (!(await settleRun(tx, run, { step: run.step, dueAt }))) throw new LostClaim();
    return { kind: 'deferred', dueAt, reason };
  };
  const quietUntil = (): SendTime =>
    flowSendTimeCheck({ timezone: r.shop_timezone, quietStart: r.quiet_hours_start, quietEnd: r.quiet_hours_end }, run.now, { floor: deps.quietHoursFloor ?? true })({
      phone: r.phone_e164,
      timezone: r.timezone,
    });
  const leaseUntil = new Date(run.now.getTime() + deps.leaseMs);
  const renewLease = () => tx.$executeRaw`
    UPDATE flow_runs SET lease_until = ${leaseUntil}::timestamptz, updated_at = now()
     WHERE id = ${run.runId}::bigint AND claim_token = ${run.claimToken}::uuid`;
  // The credits checked above, held under the wallet's lock: the balance was read without one, and another claim
  // of the shop may be spending it right now. Last statement of the transaction, so the wallet is locked briefly.
  const hold = async (messageId: string, segments: number): Promise<string> => {
    const key = flowMessageHoldKey(messageId, run.claimToken);
    const fits = await holdFlowCredits(tx, { key, expiresAt: new Date(leaseUntil.getTime() + FLOW_HOLD_GRACE_MS), items: [{ shopId: r.shop_id, segments }] });
    if (fits.size === 0) throw new ShortOfCredits();
    return key;
  };
  // Consent at send time (opt-outs and erasure ended the run before this step;
  // a STOP to a number the shop does not hold as this contact did not).
  const unsendable = async (): Promise<'not_sendable' | 'suppressed' | null> => {
    if (r.sms_consent !== 'subscribed' || !r.phone_e164) return 'not_sendable';
    const suppressed = await suppressedNumbers(tx, deps.phoneHashKey, { shopId: r.shop_id, senderId: r.sender_id, phones: [r.phone_e164] });
    return suppressed.size > 0 ? 'suppressed' : null;
  };
  // Smart sending: the campaigns' send slot. Every flow message takes it (so
  // it counts against later campaigns and flows); with the cap on and the
  // flow not exempt, a contact texted within the window by anything but this
  // run is refused it.
  const takeSlot = async (): Promise<boolean> => {
    const smart = smartSendingSchema.safeParse(r.smart_sending);
    const mode = smart.success ? smart.data : ({ mode: 'apply' } as const);
    const exempt = mode.mode === 'exempt' || (mode.mode === 'exempt_within' && run.now.getTime() < r.triggered_at.getTime() + mode.withinMinutes * 60_000);
    const enforce = r.smart_sending_enabled && !exempt;
    const cutoff = new Date(run.now.getTime() - r.smart_sending_window_hours * 3_600_000);
    const took = await tx.$queryRaw<unknown[]>`
      INSERT INTO contact_send_slots AS s (contact_id, shop_id, campaign_id, last_at)
      VALUES (${r.contact_id}::uuid, ${r.shop_id}::uuid, NULL, ${run.now}::timestamptz)
      ON CONFLICT (contact_id) DO UPDATE SET prev_at = s.last_at, last_at = EXCLUDED.last_at, campaign_id = NULL
       WHERE NOT ${enforce}::boolean OR s.last_at IS NULL OR s.last_at <= ${cutoff}::timestamptz
          -- The slot still holds this run's own last message: the merchant chose the waits between a flow's steps.
          OR s.last_at IN (SELECT m.sent_at FROM flow_messages m WHERE m.run_id = ${run.runId}::bigint AND m.sent_at IS NOT NULL)
      RETURNING 1`;
    return took.length > 0;
  };
  const base = { flowId: r.flow_id, shopId: r.shop_id, contactId: r.contact_id, traceId: r.trace_id };
  const vars = { firstName: r.first_name, lastName: r.last_name, shopName: shopDisplayName(r.shop_name, r.domain), checkoutUrl: r.checkout_url };

  if (r.message_id === null && r.mark_id !== null) {
    // A batched attempt reserved this id and may have sent it: written as the
    // row that attempt would have left `sending` under its claim, so what
    // follows decides as for any attempt that died mid-send. The text is
    // rendered again (batched steps have no links); the segments are the
    // ones that attempt counted.
    const again = r.phone_e164 ? renderFlowMessage(step, vars, r.opt_out_footer) : null;
    const body = again?.ok ? again.text : null;
    const encoding = again?.ok ? again.encoding : null;
    await tx.$executeRaw`
      INSERT INTO flow_messages (id, run_id, step, shop_id, flow_id, version_id, contact_id, status, body, segments, encoding, claim_token, attempts, trace_id)
      VALUES (${r.mark_id}::bigint, ${run.runId}::bigint, ${run.step}, ${r.shop_id}::uuid, ${r.flow_id}::uuid, ${r.version_id}::uuid, ${r.contact_id}::uuid,
              'sending', ${body}, ${r.mark_segments}::smallint, ${encoding}, ${run.claimToken}::uuid, 1, ${r.trace_id})`;
    Object.assign(r, { message_id: r.mark_id, message_status: 'sending', message_claim: run.claimToken, message_body: body, message_segments: r.mark_segments, message_encoding: encoding });
  }

  if (r.message_id !== null) {
    const id = String(r.message_id);
    // Final already: the settle that made it final moved the run in the same transaction, so this is not expected; move on.
    if (r.message_status !== 'sending') return move(run.next, { message: 'done' });
    const mayHaveGone = r.message_claim !== null;
    // What the attempt that may have sent it held for it (hold-flow-credits.ts): that attempt does not settle now, so
    // a re-send is charged out of it, and a message recorded unknown gives it back at once. Charged from the available
    // balance instead, the re-send found it still held (until it expired) and a shop down to its last credits paid nothing.
    const deadHold = mayHaveGone ? flowMessageHoldKey(id, r.message_claim as string) : null;
    const giveDeadHoldBack = async (): Promise<void> => {
      if (deadHold) await closeFlowHold(tx, { shopId: r.shop_id, key: deadHold, segments: 0 });
    };
    const recordUnknown = () => tx.$executeRaw`
      UPDATE flow_messages SET status = 'unknown', error_code = 'lease_expired', body = NULL, claim_token = NULL, final_at = ${run.now}
       WHERE id = ${id}::bigint AND status = 'sending'`;
    // The run ends without this message: unknown if an attempt may have sent it
    // (a repeat could be a new SMS after a STOP), else skipped for `reason`.
    const endUnsent = async (reason: 'not_sendable' | 'suppressed' | 'quiet_hours'): Promise<SendOutcome> => {
      if (mayHaveGone) {
        await recordUnknown();
        const out = await move({ status: 'exited', reason: 'not_sendable' }, { message: 'unknown', reason: 'lease_expired' });
        await giveDeadHoldBack();
        return out;
      }
      await tx.$executeRaw`
        UPDATE flow_messages SET status = 'skipped', skip_reason = ${reason}, body = NULL, claim_token = NULL, final_at = ${run.now}
         WHERE id = ${id}::bigint AND status = 'sending'`;
      return move({ status: 'exited', reason: 'not_sendable' }, { message: 'skipped', reason });
    };
    if ((mayHaveGone && !deps.provider.dedupsByReference) || r.message_body === null || !r.phone_e164) {
      // An attempt died between its provider call and its settle: a repeat could be a second SMS.
      await recordUnknown();
      deps.logger?.warn({ flowMessageId: id, runId: run.runId }, 'flow message left sending by an attempt that died: recorded unknown, not re-sent, not charged');
      const out = await move(run.next, { message: 'unknown', reason: 'lease_expired' });
      await giveDeadHoldBack();
      return out;
    }
    // A STOP (or erasure) since the last attempt binds this one as it binds a fresh send.
    // Released if not sent: certainly not sent, and its slot was given back with the release.
    const notSendable = await unsendable();
    if (notSendable) return endUnsent(notSendable);
    const quiet = quietUntil();
    // No instant to send within the bound: the run ends, as for a number that may not be texted.
    if (quiet === 'never') return endUnsent('quiet_hours');
    if (quiet) return defer(quiet, 'quiet_hours');
    const segments = r.message_segments ?? 1;
    if (!mayHaveGone && Number(r.available) < segments) return defer(new Date(run.now.getTime() + INSUFFICIENT_CREDITS_RETRY_MS), 'insufficient_credits');
    // A released message is a fresh send: it takes the slot again (its release
    // gave it back), so the slot holds the instant it goes, its `sent_at`, and
    // the run's next step is not held back by its own message.
    if (!mayHaveGone && !(await takeSlot())) {
      await tx.$executeRaw`
        UPDATE flow_messages SET status = 'skipped', skip_reason = 'frequency_cap', body = NULL, claim_token = NULL, final_at = ${run.now}
         WHERE id = ${id}::bigint AND status = 'sending'`;
      return move(run.next, { message: 'skipped', reason: 'frequency_cap' });
    }
    await tx.$executeRaw`UPDATE flow_messages SET claim_token = ${run.claimToken}::uuid, attempts = attempts + 1 WHERE id = ${id}::bigint`;
    await renewLease();
    // Released, so certainly not sent: paid as a fresh send is. One that may have gone is not held back for want of
    // credits: charged out of what its earlier attempt held, then the available balance.
    const holdKey = mayHaveGone ? deadHold : await hold(id, segments);
    return {
      ...base,
      messageId: id,
      segments,
      resend: mayHaveGone,
      slotAt: mayHaveGone ? null : run.now,
      holdKey,
      message: { reference: flowMessageReference(id), to: r.phone_e164, text: r.message_body, from: r.sender_id, encoding: r.message_encoding ?? 'GSM-7' },
    };
  }

  const skip = async (reason: string, set: RunMove): Promise<SendOutcome> => {
    await tx.$executeRaw`
      INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, skip_reason, trace_id, final_at)
      VALUES (${run.runId}::bigint, ${run.step}, ${r.shop_id}::uuid, ${r.flow_id}::uuid, ${r.version_id}::uuid, ${r.contact_id}::uuid,
              'skipped', ${reason}, ${r.trace_id}, ${run.now})`;
    return move(set, { message: 'skipped', reason });
  };
  const notSendable = await unsendable();
  if (notSendable || !r.phone_e164) return skip(notSendable ?? 'not_sendable', { status: 'exited', reason: 'not_sendable' });
  // Deferred: the same step, due when the recipient's quiet hours end; ended (skipped) when they leave no instant.
  const quiet = quietUntil();
  if (quiet === 'never') return skip('quiet_hours', { status: 'exited', reason: 'not_sendable' });
  if (quiet) return defer(quiet, 'quiet_hours');
  // Links as short links of their fixed length: the count (hence the credits) is the real message's.
  const links = deps.links ?? DEV_TRACKED_LINKS;
  const sample = sampleShortLink(links.base);
  const rendered = renderFlowMessage(step, vars, r.opt_out_footer, () => sample);
  if (!rendered.ok) return skip(rendered.reason, run.next);
  // Paid from what no campaign holds; a run that cannot pay waits (a top-up resumes it).
  if (Number(r.available) < rendered.segments) return defer(new Date(run.now.getTime() + INSUFFICIENT_CREDITS_RETRY_MS), 'insufficient_credits');

  if (!(await takeSlot())) return skip('frequency_cap', run.next);

  // A message with links takes its id first: its codes name it (flow message id and step, link-code.ts).
  let text = rendered.text;
  let messageId: string | null = null;
  if (rendered.links > 0) {
    const [n] = await tx.$queryRaw<{ id: bigint }[]>`SELECT nextval('flow_messages_id_seq'::regclass) AS id`;
    const reserved = Number(n!.id);
    messageId = String(n!.id);
    const own = renderFlowMessage(step, vars, r.opt_out_footer, (index) => flowShortLink(links, Number(r.link_no), reserved, run.step, index));
    // The same length as the sample's, so the same segments: checked, never assumed.
    if (!own.ok || own.segments !== rendered.segments || own.encoding !== rendered.encoding) throw new Error(`flow message ${messageId}: short links changed its count`);
    text = own.text;
  }
  const [row] = await tx.$queryRaw<{ id: bigint }[]>`
    INSERT INTO flow_messages (id, run_id, step, shop_id, flow_id, version_id, contact_id, status, body, segments, encoding, claim_token, attempts, trace_id)
    VALUES (COALESCE(${messageId}::bigint, nextval('flow_messages_id_seq'::regclass)), ${run.runId}::bigint, ${run.step}, ${r.shop_id}::uuid,
            ${r.flow_id}::uuid, ${r.version_id}::uuid, ${r.contact_id}::uuid,
            'sending', ${text}, ${rendered.segments}::smallint, ${rendered.encoding}, ${run.claimToken}::uuid, 1, ${r.trace_id})
    RETURNING id`;
  await renewLease();
  const id = String(row!.id);
  const holdKey = await hold(id, rendered.segments);
  return {
    ...base,
    messageId: id,
    segments: rendered.segments,
    resend: false,
    slotAt: run.now,
    holdKey,
    message: { reference: flowMessageReference(id), to: r.phone_e164, text, from: r.sender_id, encoding: rendered.encoding, segments: rendered.segments },
  };
}

/**
 * Ends a run, without its message, on an order: one placed since its trigger
 * (or its abandoned checkout completed), or its own order cancelled or
 * refunded in full. A message an attempt may have sent already is recorded `unknown`
 * (never re-sent; charged only if a delivery report proves it), one whose
 * claim was released (certainly not sent) `failed`/`run_ended`, as
 * reconciliation settles a message its ended run left; a mark of a batched
 * attempt becomes its `unknown` row in settleRun.
 */
async function endForOrder(tx: Tx, run: RunRef, r: SendRow, reason: OrderUndone | 'order_placed'): Promise<SendOutcome> {
  let message: 'unknown' | 'failed' | 'done' = r.mark_id !== null ? 'unknown' : 'done';
  let deadHold: string | null = null;
  if (r.message_id !== null && r.message_status === 'sending') {
    message = r.message_claim !== null ? 'unknown' : 'failed';
    if (r.message_claim !== null) deadHold = flowMessageHoldKey(String(r.message_id), r.message_claim);
    await tx.$executeRaw`
      UPDATE flow_messages SET status = ${message}, error_code = ${message === 'unknown' ? 'lease_expired' : 'run_ended'}, body = NULL, claim_token = NULL, final_at = ${run.now}
       WHERE id = ${String(r.message_id)}::bigint AND status = 'sending'`;
  }
  const set: RunMove = { status: 'exited', reason };
  if (!(await settleRun(tx, run, set))) throw new LostClaim();
  // Not charged: what the attempt that may have sent it held goes back now (after the run: the wallet is locked last).
  if (deadHold) await closeFlowHold(tx, { shopId: r.shop_id, key: deadHold, segments: 0 });
  return { kind: 'moved', move: set, message, ...(message === 'done' ? {} : { reason: message === 'unknown' ? 'lease_expired' : 'run_ended' }) };
}

async function settle(db: Db, deps: FlowSendDeps, run: RunRef, m: ToSend, result: SendResult | null, requestFailed: unknown): Promise<SendOutcome> {
  return db.$transaction(async (tx) => {
    const move = async (set: RunMove): Promise<void> => {
      if (!(await settleRun(tx, run, set))) throw new LostClaim();
    };
    const final = async (status: 'failed' | 'unknown', code: string): Promise<void> => {
      const n = await tx.$executeRaw`
        UPDATE flow_messages SET status = ${status}, error_code = ${code.slice(0, 200)}, body = NULL, claim_token = NULL, final_at = ${run.now}
         WHERE id = ${m.messageId}::bigint AND status = 'sending' AND claim_token = ${run.claimToken}::uuid`;
      if (n !== 1) throw new LostClaim();
    };
    // If no other message took the slot since.
    const giveSlotBack = async (): Promise<void> => {
      if (!m.slotAt) return;
      await tx.$executeRaw`
        UPDATE contact_send_slots SET last_at = prev_at, prev_at = NULL
         WHERE contact_id = ${m.contactId}::uuid AND campaign_id IS NULL AND last_at = ${m.slotAt}::timestamptz`;
    };
    // What a message not charged was held goes back (a sent one's debit closes its hold). After the run and the
    // row, as every settle locks the wallet last.
    const releaseHold = async (): Promise<void> => {
      if (m.holdKey) await closeFlowHold(tx, { shopId: m.shopId, key: m.holdKey, segments: 0 });
    };
    const retryLater = async (ms: number, reason: DeferReason, release: boolean): Promise<SendOutcome> => {
      // Released (claim_token NULL): certainly not sent, the next attempt sends
      // it as new and takes the slot again; so it gives back the slot it took
      // (else the slot would hold an instant no message went at, and hold back
      // the run's next step). A kept claim may have gone: its slot stays.
      if (release) {
        await tx.$executeRaw`UPDATE flow_messages SET claim_token = NULL WHERE id = ${m.messageId}::bigint AND claim_token = ${run.claimToken}::uuid AND status = 'sending'`;
        await giveSlotBack();
      }
      const dueAt = new Date(run.now.getTime() + ms);
      await move({ step: run.step, dueAt });
      await releaseHold();
      return { kind: 'deferred', dueAt, reason };
    };

    if (requestFailed !== null) {
      // Only a ProviderError guarantees nothing was accepted.
      if (requestFailed instanceof ProviderError) {
        const ms = requestFailed instanceof ProviderRateLimitedError ? Math.max(1_000, requestFailed.retryAfterMs) : PROVIDER_RETRY_MS;
        deps.logger?.warn({ flowMessageId: m.messageId, err: requestFailed.message }, 'flow message not taken by the provider: the step is tried again');
        return retryLater(ms, 'provider_retry', true);
      }
      result = { reference: m.message.reference, outcome: 'unknown', reason: 'request_error' };
    }
    if (result?.outcome === 'accepted') {
      await move(run.next);
      const charge = await debitFlowMessage(tx, m);
      const n = await tx.$executeRaw`
        UPDATE flow_messages SET status = 'sent', provider_message_id = ${result.providerMessageId}, sent_at = ${run.now}, credits = ${charge}::int,
               body = NULL, claim_token = NULL, error_code = NULL
         WHERE id = ${m.messageId}::bigint AND status = 'sending' AND claim_token = ${run.claimToken}::uuid`;
      if (n !== 1) throw new LostClaim();
      if (charge < m.segments) deps.logger?.error({ flowMessageId: m.messageId, segments: m.segments, charged: charge }, 'flow message sent but the wallet could not cover it: charged what it could');
      deps.metrics?.flowCredits.inc(charge);
      return { kind: 'moved', move: run.next, message: 'sent' };
    }
    if (result?.outcome === 'rejected' && result.permanent) {
      await final('failed', result.code);
      // A message that certainly did not go out gives back the slot it took.
      await giveSlotBack();
      await move(run.next);
      await releaseHold();
      return { kind: 'moved', move: run.next, message: 'failed', reason: 'rejected' };
    }
    if (result?.outcome === 'rejected') return retryLater(PROVIDER_RETRY_MS, 'provider_retry', true);
    // The provider may hold it: repeat the reference only where a repeat cannot become a second SMS.
    const reason = result?.outcome === 'unknown' ? result.reason : 'missing_result';
    if (deps.provider.dedupsByReference) return retryLater(PROVIDER_RETRY_MS / 2, 'provider_unknown', false);
    await final('unknown', reason);
    await move(run.next);
    await releaseHold();
    deps.logger?.warn({ flowMessageId: m.messageId, reason }, 'flow message outcome unknown: not re-sent, not charged');
    return { kind: 'moved', move: run.next, message: 'unknown', reason: 'provider_unknown' };
  });
}

function count(deps: FlowSendDeps, o: SendOutcome): void {
  if (!deps.metrics) return;
  if (o.kind === 'deferred') deps.metrics.flowMessages.inc({ outcome: 'deferred', reason: o.reason });
  else if (o.kind === 'moved' && o.message !== 'done') deps.metrics.flowMessages.inc({ outcome: o.message, reason: o.reason ?? 'none' });
}
