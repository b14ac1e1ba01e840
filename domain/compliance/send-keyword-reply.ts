import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import type { TokenCipher } from '../../lib/token-cipher';
import { countSegments } from '../messaging/segments';
import { ProviderError, ProviderRequestError, type SmsProvider } from '../messaging/providers/provider';
import { messageSegments } from '../messaging/providers/segment-limited';
import { idFromReference } from '../messaging/reference-id';
import { keywordReplyAad } from './record-keyword-reply';
import type { SuppressionScope } from './suppressions';

/** Our client reference for a keyword reply: `k<id>` (campaign messages are `r<id>`). */
export const keywordReplyReference = (id: string | bigint): string => `k${id}`;

export function keywordReplyIdFromReference(reference: string | null | undefined): string | null {
  return idFromReference('k', reference);
}

export interface KeywordReplyDeps {
  db: Db;
  provider: SmsProvider;
  now: () => Date;
  leaseMs: number;
  /** Opens the sealed number (SHOP_TOKEN_ENCRYPTION_KEY and the rotated-out keys). */
  cipher: Pick<TokenCipher, 'decrypt'>;
  metrics?: Pick<Metrics, 'keywordReplies' | 'keywordReplySegments'>;
  logger?: Logger;
}

export type KeywordReplyResult =
  | { outcome: 'sent'; providerMessageId: string; segments: number }
  | { outcome: 'suppressed'; reason: SuppressedReason }
  | { outcome: 'failed'; code: string }
  | { outcome: 'unknown'; reason: string }
  /** Already final (a replayed job): nothing done. */
  | { outcome: 'done'; status: string }
  /** Another attempt holds it; come back at `until`. */
  | { outcome: 'leased'; until: Date }
  | { outcome: 'missing' };

/** Why a reply is not sent: the number's opt-out outranks it (docs/webhooks.md, the precedence table). */
export type SuppressedReason = 'erased' | 'wider_opt_out' | 'still_opted_out';

interface ReplyRow {
  id: bigint;
  provider: string;
  inbound_message_id: string;
  shop_id: string | null;
  keyword: 'STOP' | 'START' | 'HELP';
  scope: SuppressionScope;
  sender: string;
  to_phone_sealed: string | null;
  to_hash: string;
  to_hmac: string;
  body: string;
  status: string;
  lease_until: Date | null;
  trace_id: string | null;
}

/** Transient: the job retries (bounded by its attempts); nothing was sent, the reply waits `pending`. */
export class KeywordReplyRetryError extends Error {
  override name = 'KeywordReplyRetryError';
}

/**
 * The `keyword.reply.v1` job: claim the reply (guarded, with a lease), decide
 * whether the number may still get it, ONE provider call with reference
 * `k<id>`, settle guarded by the claim. Like a campaign batch, a takeover of
 * a claim whose worker died mid-send re-sends only to a provider that
 * dedups by reference; otherwise the reply is `unknown` and never re-sent.
 * A reply is never charged: the shop's count and the metrics take it.
 */
export async function sendKeywordReply(deps: KeywordReplyDeps, replyId: string): Promise<KeywordReplyResult> {
  const token = randomUUID();
  const claimed = await deps.db.$transaction((tx) => claimReply(tx, deps, replyId, token));
  if (!('row' in claimed)) {
    if (claimed.outcome === 'suppressed' || claimed.outcome === 'unknown') count(deps, claimed.keyword, claimed.outcome);
    const { keyword: _k, ...result } = claimed as KeywordReplyResult & { keyword?: string };
    return result as KeywordReplyResult;
  }
  const row = claimed.row;
  const to = deps.cipher.decrypt(row.to_phone_sealed ?? '', keywordReplyAad(row.provider, row.inbound_message_id))?.plaintext;
  if (!to) {
    // Sealed under a key this process no longer has (or tampered with): it cannot be sent.
    await finish(deps.db, row.id, token, { status: 'failed', code: 'number_unreadable' });
    count(deps, row.keyword, 'failed');
    return { outcome: 'failed', code: 'number_unreadable' };
  }
  const encoding = countSegments(row.body).encoding;
  const message = { reference: keywordReplyReference(row.id), to, text: row.body, from: row.sender, encoding };
  let result;
  try {
    [result] = await deps.provider.sendBatch([message], { traceId: row.trace_id ?? `keyword-reply-${row.id}` });
  } catch (err) {
    if (err instanceof ProviderRequestError) {
      await finish(deps.db, row.id, token, { status: 'failed', code: `request_${err.status}` });
      count(deps, row.keyword, 'failed');
      throw err;
    }
    // Nothing was accepted (a ProviderError guarantees it): back to pending for the retry.
    if (err instanceof ProviderError) await release(deps.db, row.id, token);
    throw err;
  }
  if (result?.outcome === 'accepted') {
    const segments = messageSegments(message);
    await deps.db.$transaction(async (tx) => {
      const moved = await tx.$executeRaw`
        UPDATE keyword_replies
           SET status = 'sent', provider_message_id = ${result.providerMessageId}, segments = ${segments}::smallint, sent_at = ${deps.now()},
               to_phone_sealed = NULL, claim_token = NULL, lease_until = NULL, error_code = NULL
         WHERE id = ${row.id}::bigint AND claim_token = ${token}::uuid AND status = 'sending'`;
      // Counted apart from credits (docs/credits.md): the shop's replies and their segments.
      if (moved > 0 && row.shop_id) {
        await tx.$executeRaw`
          UPDATE shops SET keyword_replies_sent = keyword_replies_sent + 1, keyword_reply_segments = keyword_reply_segments + ${segments}::int
           WHERE id = ${row.shop_id}::uuid`;
      }
    });
    count(deps, row.keyword, 'sent', segments);
    return { outcome: 'sent', providerMessageId: result.providerMessageId, segments };
  }
  if (result?.outcome === 'rejected' && result.permanent) {
    await finish(deps.db, row.id, token, { status: 'failed', code: result.code });
    count(deps, row.keyword, 'failed');
    return { outcome: 'failed', code: result.code };
  }
  if (result?.outcome === 'rejected' || (result?.outcome === 'unknown' && deps.provider.dedupsByReference)) {
    // Not taken (or safe to repeat with the same reference): the job's retry sends it.
    await release(deps.db, row.id, token);
    throw new KeywordReplyRetryError(`keyword reply ${row.id}: ${result.outcome === 'rejected' ? result.code : result.reason}`);
  }
  const reason = result?.outcome === 'unknown' ? result.reason : 'missing_result';
  await finish(deps.db, row.id, token, { status: 'unknown', code: reason });
  count(deps, row.keyword, 'unknown');
  return { outcome: 'unknown', reason };
}

type Claim = { row: ReplyRow } | (KeywordReplyResult & { keyword?: string });

async function claimReply(tx: Tx, deps: KeywordReplyDeps, replyId: string, token: string): Promise<Claim> {
  const now = deps.now();
  const [row] = await tx.$queryRaw<ReplyRow[]>`
    SELECT id, provider, inbound_message_id, shop_id, keyword, scope, sender, to_phone_sealed, to_hash, to_hmac, body, status, lease_until, trace_id
      FROM keyword_replies WHERE id = ${replyId}::bigint FOR UPDATE`;
  if (!row) return { outcome: 'missing' };
  if (row.status !== 'pending' && row.status !== 'sending') return { outcome: 'done', status: row.status };
  if (row.status === 'sending' && row.lease_until && row.lease_until > now) return { outcome: 'leased', until: row.lease_until };
  if (row.status === 'sending' && !deps.provider.dedupsByReference) {
    // A worker died between its call and its settle: the provider may hold the reply, and a repeat could be a second SMS.
    await finishTx(tx, row.id, null, { status: 'unknown', code: 'lease_expired' });
    return { outcome: 'unknown', reason: 'lease_expired', keyword: row.keyword };
  }
  const reason = await suppressedReason(tx, row);
  if (reason) {
    await finishTx(tx, row.id, null, { status: 'suppressed', code: reason });
    deps.logger?.info({ keywordReplyId: String(row.id), keyword: row.keyword, reason }, 'keyword reply not sent: a stronger opt-out holds');
    return { outcome: 'suppressed', reason, keyword: row.keyword };
  }
  await tx.$executeRaw`
    UPDATE keyword_replies SET status = 'sending', claim_token = ${token}::uuid, lease_until = ${new Date(now.getTime() + deps.leaseMs)}, attempts = attempts + 1
     WHERE id = ${row.id}::bigint`;
  return { row };
}

/**
 * The precedence table (docs/webhooks.md): opt-outs ranked by reach, the
 * shop's own (`shop:`) < the sender's (`sender:`) < every sender (`all`: a
 * STOP to a number no shop sends as, i.e. the carrier's or provider's);
 * above them all, erasure of the number's contact in the shop. A reply goes
 * only where nothing ranked above the keyword's own scope holds:
 *  - erased in the shop: no reply, not even to STOP;
 *  - opted out in a wider scope than the text's sender: no reply;
 *  - START: only if the number is no longer opted out anywhere this sender
 *    is bound (a STOP newer than the START, or one it could not lift, wins);
 *  - STOP and HELP: an opt-out in the text's own scope does not block them
 *    (the STOP confirmation is the one message an opt-out allows; HELP is
 *    answered whatever the subscription, as carriers require).
 */
async function suppressedReason(tx: Tx, r: ReplyRow): Promise<SuppressedReason | null> {
  const own = r.scope;
  const sender = `sender:${r.sender.toLowerCase()}`;
  const binding = own.startsWith('shop:') ? [own, sender, 'all'] : own.startsWith('sender:') ? [own, 'all'] : ['all'];
  const wider = binding.filter((s) => s !== own);
  const [state] = await tx.$queryRaw<{ erased: boolean; wider: boolean; opted_out: boolean }[]>`
    SELECT (${r.shop_id}::uuid IS NOT NULL AND EXISTS (
              SELECT 1 FROM contacts WHERE shop_id = ${r.shop_id}::uuid AND phone_hash = ${r.to_hash} AND erased_at IS NOT NULL)) AS erased,
           EXISTS (SELECT 1 FROM sms_suppressions WHERE phone_hmac = ${r.to_hmac} AND scope = ANY(${wider}::text[])) AS wider,
           (EXISTS (SELECT 1 FROM sms_suppressions WHERE phone_hmac = ${r.to_hmac} AND scope = ANY(${binding}::text[]))
            OR (${r.shop_id}::uuid IS NOT NULL AND EXISTS (
              SELECT 1 FROM contacts WHERE shop_id = ${r.shop_id}::uuid AND phone_hash = ${r.to_hash} AND opted_out_at IS NOT NULL))) AS opted_out`;
  if (state?.erased) return 'erased';
  if (state?.wider) return 'wider_opt_out';
  if (r.keyword === 'START' && state?.opted_out) return 'still_opted_out';
  return null;
}

async function release(db: Db, id: bigint, token: string): Promise<void> {
  await db.$executeRaw`
    UPDATE keyword_replies SET status = 'pending', claim_token = NULL, lease_until = NULL
     WHERE id = ${id}::bigint AND claim_token = ${token}::uuid AND status = 'sending'`;
}

async function finish(db: Db, id: bigint, token: string, o: { status: 'failed' | 'unknown'; code: string }): Promise<void> {
  await db.$transaction((tx) => finishTx(tx, id, token, o));
}

/** A final status without a send: the number goes. Guarded by the claim when one is held. */
async function finishTx(tx: Tx, id: bigint, token: string | null, o: { status: 'failed' | 'unknown' | 'suppressed'; code: string }): Promise<void> {
  await tx.$executeRaw`
    UPDATE keyword_replies
       SET status = ${o.status}, error_code = ${o.code}, final_at = now(), to_phone_sealed = NULL, claim_token = NULL, lease_until = NULL
     WHERE id = ${id}::bigint AND status IN ('pending', 'sending') AND (${token}::uuid IS NULL OR claim_token = ${token}::uuid)`;
}

function count(deps: KeywordReplyDeps, keyword: string | undefined, outcome: string, segments = 0): void {
  deps.metrics?.keywordReplies.inc({ keyword: keyword ?? 'unknown', outcome });
  if (segments > 0) deps.metrics?.keywordReplySegments.inc(segments);
}
