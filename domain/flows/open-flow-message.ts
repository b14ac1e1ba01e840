import { sql, type Sql } from '../../lib/db';

/**
 * A flow message still `sending`, as a condition over `flow_messages m`.
 * The status alone would be right but could not use the open-message
 * indexes, whose predicate names only columns a delivery report never
 * changes (migration 20261212100000); flow_messages_open_check makes every
 * `sending` row meet it, so the added conditions drop none.
 */
export const OPEN_FLOW_MESSAGE: Sql = sql`m.status = 'sending' AND m.sent_at IS NULL AND m.skip_reason IS NULL AND m.error_code IS NULL`;

/** What an open message no attempt holds becomes: its claim was released, so it certainly did not go out. */
export type ReleasedFlowMessage = { status: 'skipped'; skipReason: 'not_sendable' } | { status: 'failed'; errorCode: string };

/**
 * The SET list that makes an open flow message (OPEN_FLOW_MESSAGE) final
 * without its text, for every path that ends a run under it (an erasure, an
 * uninstall, a run ended at its step; the contacts_end_flow_runs trigger does
 * the same in SQL). One held by an attempt may have reached the provider: it
 * is `unknown` with `heldCode`, never re-sent, and a delivery report still
 * settles it. One whose claim was released becomes `released`. One mapping,
 * so the paths cannot drift apart on what a half-sent message is.
 */
export function closeOpenFlowMessage(o: { heldCode: string; released: ReleasedFlowMessage; at?: Date }): Sql {
  const skipReason = o.released.status === 'skipped' ? o.released.skipReason : null;
  const errorCode = o.released.status === 'failed' ? o.released.errorCode : null;
  const at = o.at ? sql`${o.at}::timestamptz` : sql`now()`;
  return sql`status = CASE WHEN m.claim_token IS NULL THEN ${o.released.status}::text ELSE 'unknown' END,
             skip_reason = CASE WHEN m.claim_token IS NULL THEN ${skipReason}::text END,
             error_code = CASE WHEN m.claim_token IS NULL THEN ${errorCode}::text ELSE ${o.heldCode}::text END,
             body = NULL, claim_token = NULL, final_at = ${at}`;
}
