import type { Tx } from '../../lib/db';

export interface KeywordReplyReport {
  /** The webhook event's row id. */
  eventId: string;
  replyId: string;
  providerMessageId: string;
  status: 'delivered' | 'failed';
  errorCode: string | null;
}

/**
 * Delivery reports for keyword replies (our reference `k<id>`), apart from
 * the campaign path: one guarded `sent → delivered|failed` UPDATE of
 * keyword_replies by primary key (the row must carry the report's provider
 * id), and each report's event closed at once: `processed` when it moved a
 * reply, `ignored` otherwise (a duplicate, a late report, or one that beat
 * the reply's settle: a reply is never charged, so it is not worth a retry).
 * Never touches campaign recipients, never retried, never dropped.
 */
export async function applyKeywordReplyReports(tx: Tx, reports: KeywordReplyReport[]): Promise<{ eventId: string; outcome: 'processed' | 'ignored'; shopId: string | null }[]> {
  if (reports.length === 0) return [];
  // The replies by key: the planner, expecting one `sent` row, would scan and match every input against each.
  // Of several reports for one reply in a pass, the earliest is applied (as for campaign recipients), and only its event is `processed`.
  const moved = await tx.$queryRaw<{ id: bigint; shop_id: string | null; n: bigint }[]>`
    UPDATE keyword_replies k
       SET status = u.status, final_at = now(), error_code = u.code
      FROM (SELECT DISTINCT ON (id) * FROM unnest(${reports.map((r) => r.replyId)}::bigint[], ${reports.map((r) => r.providerMessageId)}::text[],
                                  ${reports.map((r) => r.status)}::text[], ${reports.map((r) => r.errorCode)}::text[]) WITH ORDINALITY AS x(id, pmid, status, code, n)
             ORDER BY id, n) u
     WHERE k.id = ANY(${reports.map((r) => r.replyId)}::bigint[]) AND k.id = u.id AND k.provider_message_id = u.pmid AND k.status = 'sent'
    RETURNING k.id, k.shop_id, u.n`;
  const applied = new Set(moved.map((m) => Number(m.n) - 1));
  const shopOf = new Map(moved.map((m) => [String(m.id), m.shop_id]));
  const out = reports.map((r, i) => ({ eventId: r.eventId, outcome: applied.has(i) ? ('processed' as const) : ('ignored' as const), shopId: shopOf.get(r.replyId) ?? null }));
  await tx.$executeRaw`
    UPDATE webhook_events w
       SET status = u.outcome, processed_at = now(), attempts = w.attempts + 1, last_error = NULL, next_attempt_at = NULL,
           shop_id = COALESCE(w.shop_id, u.shop_id)
      FROM unnest(${out.map((o) => o.eventId)}::uuid[], ${out.map((o) => o.outcome)}::text[], ${out.map((o) => o.shopId)}::uuid[]) AS u(id, outcome, shop_id)
     WHERE w.id = u.id`;
  return out;
}
