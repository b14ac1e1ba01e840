import { sql, type Sql } from '../../lib/db';

/**
 * A flow message still `sending`, as a condition over `flow_messages m`.
 * The status alone would be right but could not use the open-message
 * indexes, whose predicate names only columns a delivery report never
 * changes (migration 20261212100000); flow_messages_open_check makes every
 * `sending` row meet it, so the added conditions drop none.
 */
export const OPEN_FLOW_MESSAGE: Sql = sql`m.status = 'sending' AND m.sent_at IS NULL AND m.skip_reason IS NULL AND m.error_code IS NULL`;
