import { empty, sql, type Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJob } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';
import { FROM_OLDEST, scanRotating, type PassCursors } from '../reconciliation/pass-cursor';

/** A reply this late is no longer a confirmation of what the person just sent: given up. */
export const KEYWORD_REPLY_EXPIRY_MS = 60 * 60_000;
/** How long a reply may wait for its job before reconciliation makes sure it has one. */
export const KEYWORD_REPLY_QUIET_MS = 60_000;

/**
 * Reconciliation's pass over keyword replies left open: a `pending` reply
 * older than a minute, or a `sending` one whose lease ran out, gets its job
 * back (same deterministic id; a live one is left alone); one still open
 * after an hour is given up (`failed`/`expired`, or `unknown` when a send may
 * have gone out), and its sealed number goes. Bounded by `limit` per pass;
 * replies waiting behind a backlog with their job alive stay candidates, so
 * the scan resumes where the previous pass stopped (`cursors`) and a lost
 * job behind them is found before its reply expires.
 */
export async function repairKeywordReplies(
  deps: { db: Db; queues: QueueSet },
  o: { now: Date; limit: number; cursors?: PassCursors },
): Promise<{ requeued: number; expired: number }> {
  const expiredRows = await deps.db.$queryRaw<{ id: bigint }[]>`
    WITH old AS (
      SELECT id FROM keyword_replies
       WHERE status IN ('pending', 'sending') AND created_at < ${new Date(o.now.getTime() - KEYWORD_REPLY_EXPIRY_MS)}
         AND (status = 'pending' OR lease_until < ${o.now})
       ORDER BY created_at LIMIT ${o.limit}
         FOR UPDATE SKIP LOCKED
    )
    UPDATE keyword_replies k
       SET status = CASE WHEN k.status = 'sending' THEN 'unknown' ELSE 'failed' END,
           error_code = CASE WHEN k.status = 'sending' THEN 'lease_expired' ELSE 'expired' END,
           to_phone_sealed = NULL, claim_token = NULL, lease_until = NULL, final_at = now()
      FROM old WHERE k.id = old.id
    RETURNING k.id`;
  const open = await scanRotating(
    o.cursors ?? FROM_OLDEST,
    'keyword-replies',
    o.limit,
    (after, n) => deps.db.$queryRaw<{ id: bigint; trace_id: string | null; created_at: Date }[]>`
    SELECT id, trace_id, created_at FROM keyword_replies
     WHERE status IN ('pending', 'sending') AND created_at < ${new Date(o.now.getTime() - KEYWORD_REPLY_QUIET_MS)}
       AND (status = 'pending' OR lease_until < ${o.now})
       ${after ? sql`AND (created_at, id) > (${after[0]}::timestamptz, ${after[1]}::bigint)` : empty}
     ORDER BY created_at, id LIMIT ${n}`,
    (r) => [r.created_at.toISOString(), String(r.id)],
  );
  let requeued = 0;
  for (const r of open) {
    const id = String(r.id);
    const outcome = await ensureJob(deps.queues, 'keyword.reply.v1', jobIds.keywordReply(id), { traceId: r.trace_id ?? `reconcile-keyword-reply-${id}`, replyId: id });
    if (outcome !== 'live') requeued++;
  }
  return { requeued, expired: expiredRows.length };
}
