import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { ProviderError, ProviderRateLimitedError, type SendResult, type SmsProvider } from '../messaging/providers/provider';
import type { TrackedLinks } from '../links/link-code';
import { markBatchDoneIfFinished, nextLeaseExpiry } from './batch-progress';
import { skipSuppressed } from '../compliance/suppressions';
import { claimBatch, releaseClaim, type ClaimedRecipient } from './claim-batch';
import { completeCampaignIfDone } from './complete-campaign';
import { recipientReference, renderBatch, type RenderedBatch } from './render-batch';
import { loadSendContext } from './send-context';
import { settleBatch, type RecipientOutcome, type SettleSummary } from './settle-batch';
import { sendTimeCheck } from '../compliance/send-time';
import { giveBackSendSlots } from './give-back-send-slots';
import { releaseCappedCredits } from './release-capped-credits';
import { withinReservation } from './within-reservation';

export const DEFAULT_MAX_SEND_ATTEMPTS = 5;

export interface SendBatchDeps {
  db: Db;
  provider: SmsProvider;
  now: () => Date;
  leaseMs: number;
  /** PHONE_HASH_KEY: matches recipients against opt-outs kept as keyed hashes (sms_suppressions). */
  phoneHashKey: string;
  /** The US/CA 08:00–21:00 floor of quiet hours (SMS_QUIET_HOURS_FLOOR): on unless a test turns it off. */
  quietHoursFloor?: boolean;
  /** Short-link base and signing key (trackedLinksOf(config)); the development ones when absent. */
  links?: TrackedLinks;
  maxAttempts?: number;
  metrics?: Pick<Metrics, 'smsMessages' | 'smsSegments' | 'smsUnknownOutcomes'> & Partial<Pick<Metrics, 'smsSkipped'>>;
  logger?: Logger;
  /**
   * Fault-injection seam for tests: runs after the provider answered and
   * before the settle, where a crash is the most dangerous.
   */
  afterProviderCall?: (results: SendResult[]) => void | Promise<void>;
}

export interface SendBatchJob {
  campaignId: string;
  shopId: string;
  batchNo: number;
  traceId: string;
}

export interface BatchCounts {
  claimed: number;
  skipped: number;
  settle: SettleSummary | null;
  batchDone: boolean;
  campaignCompleted: boolean;
}

export type SendBatchResult =
  /**
   * Run the job again at `until`: another attempt holds a live lease, or
   * recipients of the batch are inside their quiet hours (the others, if
   * any, were sent: `counts`).
   */
  | { outcome: 'deferred'; until: Date; reason: 'quiet_hours' | 'leased'; deferred?: number; counts?: BatchCounts }
  /** The provider said 429: the claim was given back; pause the queue for `retryAfterMs`. */
  | { outcome: 'rate_limited'; retryAfterMs: number }
  /** Some recipients need another attempt (transient rejection or unknown outcome): retry the job with backoff. */
  | ({ outcome: 'retry' } & BatchCounts)
  | ({ outcome: 'done' } & BatchCounts)
  | { outcome: 'ignored'; reason: string };

/**
 * One send-batch job: claim → render → ONE provider call → ONE settle.
 * Every step is guarded in Postgres, so running this any number of times,
 * concurrently, or after a crash at any point, sends each recipient at most
 * once (re-sends only repeat a reference to a provider that dedups by it) and
 * debits each sent message once.
 * Throws (after giving the claim back) on a whole-request provider failure
 * that guarantees nothing was sent, so the job is retried with backoff.
 */
export async function sendBatch(deps: SendBatchDeps, job: SendBatchJob, o: { afterCancel?: boolean } = {}): Promise<SendBatchResult> {
  const ctx = await loadSendContext(deps.db, job.campaignId, job.shopId);
  if (!ctx) return { outcome: 'ignored', reason: 'campaign_missing' };
  if (!['sending', 'cancelled', 'failed'].includes(ctx.status)) return { outcome: 'ignored', reason: `campaign_${ctx.status}` };

  const now = deps.now();
  const token = randomUUID();
  // Quiet hours are the recipient's (their zone, and the legal floor for
  // US/CA numbers), decided row by row at the claim: those inside them stay
  // pending and the job comes back when the first of them may be sent; those
  // they leave no instant within the bound are skipped (quiet_hours).
  const claim = await claimBatch(deps.db, {
    campaignId: job.campaignId,
    batchNo: job.batchNo,
    token,
    now,
    leaseMs: deps.leaseMs,
    dedupsByReference: deps.provider.dedupsByReference,
    quietHours: sendTimeCheck(ctx, now, { floor: deps.quietHoursFloor ?? true }),
    // Every message takes its contact's slot; the cap skips only where it is on.
    frequencyCap: { shopId: job.shopId, windowHours: ctx.frequencyCap?.windowHours ?? null },
  });
  // Another attempt holds a live claim (a concurrent duplicate, or a worker
  // that died mid-send): come back when its lease runs out.
  if (claim.outcome === 'leased') return { outcome: 'deferred', until: claim.until, reason: 'leased' };
  // Opt-outs of numbers the shop did not hold when they came (STOP to a
  // shared sender, before the contact was added) bind here.
  const claimed = await skipSuppressed(deps.db, deps.phoneHashKey, { shopId: job.shopId, senderId: ctx.senderId }, claim.recipients);
  const counts: BatchCounts = { claimed: claimed.length, skipped: 0, settle: null, batchDone: false, campaignCompleted: false };
  counts.skipped = claimed.filter((r) => r.status === 'skipped').length;
  const toSend = claimed.filter((r) => r.status === 'sending');
  // Decided at the claim, recorded by the settle like every other outcome. An
  // unknown row keeps what its message costs (rendered, not sent), charged
  // only if a delivery report or the on-call later proves it went out.
  const unknownAtClaim = claimed.filter((r) => r.status === 'unknown');
  const unknownSegments = unknownAtClaim.length > 0 ? renderBatch(unknownAtClaim, ctx, deps.links).segmentsByReference : new Map<string, number>();
  const decided: RecipientOutcome[] = claimed.flatMap((r): RecipientOutcome[] =>
    r.status === 'skipped'
      ? [{ id: r.id, kind: 'skipped', code: r.skipReason ?? 'not_sendable' }]
      : r.status === 'unknown'
        ? [{ id: r.id, kind: 'unknown', code: 'lease_expired', segments: unknownSegments.get(recipientReference(r.id)) ?? null }]
        : [],
  );

  if (claimed.length === 0) {
    // Rows left `sending` with a live lease of their own (claimed row by row,
    // before claims moved to the batch) are not ours yet either.
    const leased = await nextLeaseExpiry(deps.db, { campaignId: job.campaignId, batchNo: job.batchNo, now });
    if (leased) return { outcome: 'deferred', until: leased, reason: 'leased' };
    if (claim.deferred) return { outcome: 'deferred', until: claim.deferred.until, reason: 'quiet_hours', deferred: claim.deferred.count };
    return { outcome: 'done', ...(await finish(deps, job, counts)) };
  }

  let outcomes = decided;
  if (toSend.length > 0) {
    const { rendered, skipped: beyond } = withinReservation(renderBatch(toSend, ctx, deps.links), toSend, ctx.messageBound);
    if (beyond.length > 0) {
      deps.metrics?.smsSkipped?.inc({ reason: 'insufficient_credits' }, beyond.length);
      deps.logger?.warn({ campaignId: job.campaignId, batchNo: job.batchNo, skipped: beyond.length, bound: ctx.messageBound }, 'recipients renamed since the launch need more segments than reserved: skipped (insufficient_credits)');
    }
    const results = await callProvider(deps, job, rendered, { token, takeover: claim.takeover });
    if (!Array.isArray(results)) return results;
    if (deps.afterProviderCall) await deps.afterProviderCall(results);
    outcomes = decided.concat(beyond, toOutcomes(rendered, results, deps.provider.dedupsByReference));
  }

  const settle = await settleBatch(deps.db, {
    campaignId: job.campaignId,
    shopId: job.shopId,
    batchNo: job.batchNo,
    token,
    outcomes,
    now: deps.now(),
    maxAttempts: deps.maxAttempts ?? DEFAULT_MAX_SEND_ATTEMPTS,
    traceId: job.traceId,
    logger: deps.logger,
  });
  counts.settle = settle;
  countSettled(deps, settle);
  await afterCap(deps, job, claimed, outcomes, settle);
  if (settle.unknown > 0) {
    deps.logger?.warn(
      { campaignId: job.campaignId, batchNo: job.batchNo, unknown: settle.unknown, provider: deps.provider.name },
      'recipients recorded unknown: not re-sent, not charged until a delivery report or the on-call settles them',
    );
  }
  const finished = await finish(deps, job, counts);
  if (settle.pending > 0 || settle.resend > 0) return { outcome: 'retry', ...finished };
  if (claim.deferred && !o.afterCancel && (await campaignCancelled(deps.db, job.campaignId))) {
    // A cancel that landed during this send left the rows waiting for their
    // quiet hours pending (the batch was claimed), with their credits held:
    // claimed again now, they are cancelled under the batch lock and the batch
    // finishes, instead of at their morning. Once: no row is deferred then.
    return sendBatch(deps, job, { afterCancel: true });
  }
  if (claim.deferred) return { outcome: 'deferred', until: claim.deferred.until, reason: 'quiet_hours', deferred: claim.deferred.count, counts: finished };
  return { outcome: 'done', ...finished };
}

/**
 * The frequency cap's bookkeeping once the settle recorded the outcomes (a
 * settle that moved nothing — its claim was taken over — reports nothing and
 * does none of it): slots taken for messages that certainly did not go out
 * are given back, and what the capped recipients — and those quiet hours
 * leave no instant — would have cost is released from the reservation.
 */
async function afterCap(deps: SendBatchDeps, job: SendBatchJob, claimed: ClaimedRecipient[], outcomes: RecipientOutcome[], settle: SettleSummary): Promise<void> {
  const moved = settle.sent + settle.failed + settle.skipped + settle.pending + settle.unknown + settle.resend;
  if (moved === 0) return;
  const capped = claimed.filter((r) => r.skipReason === 'frequency_cap').length;
  const quiet = claimed.filter((r) => r.skipReason === 'quiet_hours').length;
  const notSendable = claimed.filter((r) => r.status === 'skipped').length - capped - quiet;
  if (capped > 0) deps.metrics?.smsSkipped?.inc({ reason: 'frequency_cap' }, capped);
  if (quiet > 0) deps.metrics?.smsSkipped?.inc({ reason: 'quiet_hours' }, quiet);
  if (notSendable > 0) deps.metrics?.smsSkipped?.inc({ reason: 'not_sendable' }, notSendable);
  const gone = new Set(outcomes.filter((o) => o.kind === 'failed' || o.kind === 'skipped').map((o) => o.id));
  const slots = claimed.flatMap((r) => (r.tookSlot && r.contactId && gone.has(r.id) ? [r.contactId] : []));
  await giveBackSendSlots(deps.db, { campaignId: job.campaignId, contactIds: slots });
  if (capped + quiet > 0) {
    const released = await releaseCappedCredits(deps.db, { campaignId: job.campaignId, shopId: job.shopId, recipients: capped + quiet });
    deps.logger?.info({ campaignId: job.campaignId, batchNo: job.batchNo, capped, quiet, released }, 'recipients skipped by the frequency cap or quiet hours; their reservation released');
  }
}

async function callProvider(
  deps: SendBatchDeps,
  job: SendBatchJob,
  rendered: RenderedBatch,
  claim: { token: string; takeover: boolean },
): Promise<SendResult[] | SendBatchResult> {
  if (rendered.messages.length === 0) return [];
  try {
    return await deps.provider.sendBatch(rendered.messages, { traceId: job.traceId });
  } catch (err) {
    // Only a ProviderError guarantees that nothing was accepted; anything else
    // leaves the claim to run out, and the takeover decides.
    if (err instanceof ProviderError) {
      await releaseClaim(deps.db, { campaignId: job.campaignId, batchNo: job.batchNo, token: claim.token, takeover: claim.takeover, now: deps.now() });
      if (err instanceof ProviderRateLimitedError) return { outcome: 'rate_limited', retryAfterMs: err.retryAfterMs };
    }
    throw err;
  }
}

function toOutcomes(rendered: RenderedBatch, results: SendResult[], dedups: boolean): RecipientOutcome[] {
  const outcomes: RecipientOutcome[] = rendered.unsendable.map((u) => ({ id: u.id, kind: 'failed', code: u.code }));
  const byReference = new Map(results.map((r) => [r.reference, r]));
  for (const m of rendered.messages) {
    const id = m.reference.slice(1);
    const r = byReference.get(m.reference);
    if (!r || r.outcome === 'unknown') {
      // The provider may hold this message: re-send only where a repeat cannot become a second SMS.
      const code = r?.outcome === 'unknown' ? r.reason : 'missing_result';
      const segments = rendered.segmentsByReference.get(m.reference) ?? null;
      outcomes.push({ id, kind: dedups ? 'resend' : 'unknown', code, segments });
    } else if (r.outcome === 'accepted') {
      outcomes.push({ id, kind: 'sent', providerMessageId: r.providerMessageId, segments: rendered.segmentsByReference.get(m.reference) ?? 1 });
    } else {
      outcomes.push({ id, kind: r.permanent ? 'failed' : 'retry', code: r.code });
    }
  }
  return outcomes;
}

async function finish(deps: SendBatchDeps, job: SendBatchJob, counts: BatchCounts): Promise<BatchCounts> {
  const now = deps.now();
  counts.batchDone = await markBatchDoneIfFinished(deps.db, { campaignId: job.campaignId, batchNo: job.batchNo, now });
  const done = await completeCampaignIfDone(deps.db, { campaignId: job.campaignId, now, traceId: job.traceId });
  counts.campaignCompleted = done.completed;
  if (done.completed) deps.logger?.info({ campaignId: job.campaignId, released: done.released }, 'campaign completed');
  return counts;
}

function countSettled(deps: SendBatchDeps, s: SettleSummary): void {
  if (!deps.metrics) return;
  const provider = deps.provider.name;
  const by: [string, number][] = [['sent', s.sent], ['failed', s.failed], ['skipped', s.skipped], ['retried', s.pending + s.resend], ['unknown', s.unknown]];
  for (const [status, n] of by) if (n > 0) deps.metrics.smsMessages.inc({ provider, status }, n);
  if (s.unknown > 0) deps.metrics.smsUnknownOutcomes.inc({ provider }, s.unknown);
  if (s.segments > 0) deps.metrics.smsSegments.inc(s.segments);
}

async function campaignCancelled(db: Db, campaignId: string): Promise<boolean> {
  const [row] = await db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${campaignId}::uuid`;
  return row?.status === 'cancelled';
}
