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
  const moved = await tx.$queryRaw<{ id: bigint; shop_id: string | null }[]>`
    UPDATE keyword_replies k
       SET status = u.status, final_at = now(), error_code = u.code
      FROM (SELECT DISTINCT ON (id) * FROM unnest(${reports.map((r) => r.replyId)}::bigint[], ${reports.map((r) => r.providerMessageId)}::text[],
                                  ${reports.map((r) => r.status)}::text[], ${reports.map((r) => r.errorCode)}::text[]) AS x(id, pmid, status, code)) u
     WHERE k.id = ANY(${reports.map((r) => r.replyId)}::bigint[]) AND k.id = u.id AND k.provider_message_id = u.pmid AND k.status = 'sent'
    RETURNING k.id, k.shop_id`;
  const byId = new Map(moved.map((m) => [String(m.id), m.shop_id]));
  const out = reports.map((r) => ({ eventId: r.eventId, outcome: byId.has(r.replyId) ? ('processed' as const) : ('ignored' as const), shopId: byId.get(r.replyId) ?? null }));
  // One report per reply moves it; any other report for the same reply is ignored.
  const seen = new Set<string>();
  out.forEach((o, i) => {
    const replyId = reports[i]!.replyId;
    if (o.outcome !== 'processed') return;
    if (seen.has(replyId)) o.outcome = 'ignored';
    seen.add(replyId);
  });
  await tx.$executeRaw`
    UPDATE webhook_events w
       SET status = u.outcome, processed_at = now(), attempts = w.attempts + 1, last_error = NULL, next_attempt_at = NULL,
           shop_id = COALESCE(w.shop_id, u.shop_id)
      FROM unnest(${out.map((o) => o.eventId)}::uuid[], ${out.map((o) => o.outcome)}::text[], ${out.map((o) => o.shopId)}::uuid[]) AS u(id, outcome, shop_id)
     WHERE w.id = u.id`;
  return out;
}
