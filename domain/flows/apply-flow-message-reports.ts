import { withoutNestedLoops, type Tx } from '../../lib/db';
import { debitFlowMessage } from './debit-flow-message';

export interface FlowMessageReport {
  /** The webhook event's row id; null for a report of a batched callback, whose row the caller closes. */
  eventId: string | null;
  messageId: string;
  providerMessageId: string;
  status: 'delivered' | 'failed';
  errorCode: string | null;
}

export type FlowReportOutcome = 'processed' | 'ignored' | 'not_ready';

/**
 * Delivery reports for flow messages (our reference `f<id>`), apart from the
 * campaign path: a guarded `sent → delivered|undelivered` UPDATE by primary
 * key (the row must carry the report's provider id), so a duplicate or late
 * report moves nothing; an `unknown` message (never re-sent, never charged)
 * that a report proves sent moves once too, and a delivered one is charged
 * then, under its own ledger key `flow-msg-<id>`. Events are closed here,
 * `processed` when the message is final (moved now or before); a report
 * that beat its send's settle is `not_ready`, left to the caller's bounded
 * retry: its row still `sending`, or no row yet (a claim's batched send
 * writes its messages only at the settle, under ids reserved before the
 * provider call, so a missing id is one not settled yet; a report still
 * without a row after the last retry is dropped).
 */
export async function applyFlowMessageReports(tx: Tx, reports: FlowMessageReport[]): Promise<{ eventId: string | null; outcome: FlowReportOutcome; shopId: string | null }[]> {
  if (reports.length === 0) return [];
  const ids = reports.map((r) => r.messageId);
  const pmids = reports.map((r) => r.providerMessageId);
  const statuses = reports.map((r) => (r.status === 'delivered' ? 'delivered' : 'undelivered'));
  const codes = reports.map((r) => r.errorCode);
  // The earliest report of a message wins (DISTINCT ON keeps the first of each id).
  // Messages found by key, the reports hashed (withoutNestedLoops says why).
  const moved = await withoutNestedLoops(tx, () => tx.$queryRaw<{ id: bigint; shop_id: string; prev: string; status: string; segments: number | null; flow_id: string; trace_id: string | null }[]>`
    WITH u AS (
      SELECT DISTINCT ON (id) * FROM unnest(${ids}::bigint[], ${pmids}::text[], ${statuses}::text[], ${codes}::text[]) WITH ORDINALITY AS x(id, pmid, status, code, n)
       ORDER BY id, n
    ), prev AS (
      -- Carries the report along, so the UPDATE joins these rows alone: joined to u
      -- as well, the planner re-scanned u for every row (800 × 800 rows, 256 ms a pass, measured).
      -- Not locked (a lock is a WAL record per row before the update's own): the
      -- UPDATE checks the status read here again, on the row's latest version, so a
      -- row another pass moved meanwhile is left alone. sent and unknown only ever
      -- move to a final status, and their provider id and segments change only
      -- with it: the status unchanged, the rest of the guard holds too.
      SELECT f.id, f.status AS prev_status, u.pmid, u.status, u.code FROM flow_messages f JOIN u ON u.id = f.id
       WHERE f.id = ANY(${ids}::bigint[]) AND ((f.status = 'sent' AND f.provider_message_id = u.pmid)
          OR (f.status = 'unknown' AND f.segments IS NOT NULL AND (f.provider_message_id IS NULL OR f.provider_message_id = u.pmid)))
    )
    UPDATE flow_messages f
       SET status = p.status, provider_message_id = p.pmid, final_at = now(),
           delivered_at = CASE WHEN p.status = 'delivered' THEN now() END,
           error_code = CASE WHEN p.status = 'undelivered' THEN COALESCE(p.code, 'failed') END,
           sent_at = COALESCE(f.sent_at, now())
      FROM prev p
     WHERE f.id = ANY(${ids}::bigint[]) AND f.id = p.id AND f.status = p.prev_status
    RETURNING f.id, f.shop_id::text, p.prev_status AS prev, f.status, f.segments, f.flow_id::text, f.trace_id`);
  // Proven sent after being recorded unknown: charged now, once (the row moved here, its key cannot recur).
  for (const m of moved.filter((x) => x.prev === 'unknown').sort((a, b) => (a.shop_id < b.shop_id ? -1 : a.shop_id > b.shop_id ? 1 : 0))) {
    if (m.status !== 'delivered' || m.segments === null) continue;
    const charge = await debitFlowMessage(tx, { messageId: String(m.id), shopId: m.shop_id, flowId: m.flow_id, segments: m.segments, traceId: m.trace_id });
    if (charge > 0) await tx.$executeRaw`UPDATE flow_messages SET credits = ${charge}::int WHERE id = ${m.id}::bigint`;
  }

  const movedIds = new Map(moved.map((m) => [String(m.id), m.shop_id]));
  const rest = [...new Set(reports.filter((r) => !movedIds.has(r.messageId)).map((r) => r.messageId))];
  const state = new Map<string, { status: string; shop_id: string }>();
  if (rest.length > 0) {
    const found = await tx.$queryRaw<{ id: bigint; status: string; shop_id: string }[]>`
      SELECT id, status, shop_id::text FROM flow_messages WHERE id = ANY(${rest}::bigint[])`;
    for (const f of found) state.set(String(f.id), { status: f.status, shop_id: f.shop_id });
  }
  const seen = new Set<string>();
  const out = reports.map((r) => {
    const shop = movedIds.get(r.messageId);
    if (shop !== undefined) {
      // One report per message moves it; any other for the same message is a duplicate.
      const first = !seen.has(r.messageId);
      seen.add(r.messageId);
      return { eventId: r.eventId, outcome: first ? ('processed' as const) : ('ignored' as const), shopId: shop };
    }
    const s = state.get(r.messageId);
    if (!s) return { eventId: r.eventId, outcome: 'not_ready' as const, shopId: null };
    if (s.status === 'sending') return { eventId: r.eventId, outcome: 'not_ready' as const, shopId: s.shop_id };
    // Sent with another provider id: not this message's report.
    if (s.status === 'sent') return { eventId: r.eventId, outcome: 'ignored' as const, shopId: s.shop_id };
    // Final already (a duplicate or late report), or a report that cannot apply (skipped, failed): done with.
    return { eventId: r.eventId, outcome: 'processed' as const, shopId: s.shop_id };
  });
  const close = out.filter((o): o is typeof o & { eventId: string } => o.outcome !== 'not_ready' && o.eventId !== null);
  if (close.length > 0) {
    await tx.$executeRaw`
      UPDATE webhook_events w
         SET status = u.outcome, processed_at = now(), attempts = w.attempts + 1, last_error = NULL, next_attempt_at = NULL,
             shop_id = COALESCE(w.shop_id, u.shop_id)
        FROM unnest(${close.map((o) => o.eventId)}::uuid[], ${close.map((o) => o.outcome)}::text[], ${close.map((o) => o.shopId)}::uuid[]) AS u(id, outcome, shop_id)
       WHERE w.id = u.id`;
  }
  return out;
}
