import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { readCursorJson, writeCursorJson } from '../../lib/cursor';
import { notFound } from '../../lib/errors';
import type { ConsentSource } from './consent-source';

export const listConsentRecordsQuerySchema = z
  .object({
    limit: z.string().regex(/^[0-9]{1,4}$/, 'must be an integer').transform(Number).pipe(z.number().int().min(1).max(200)).optional(),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export type ListConsentRecordsQuery = z.output<typeof listConsentRecordsQuerySchema>;

export interface ConsentRecordView {
  id: string;
  state: 'subscribed' | 'unsubscribed' | 'pending';
  source: ConsentSource;
  collectedAt: string;
  recordedAt: string;
  evidence: Record<string, unknown>;
}

interface Row {
  id: bigint;
  state: ConsentRecordView['state'];
  source: ConsentSource;
  collected_at: Date;
  recorded_at: Date;
  evidence: Record<string, unknown>;
}

// The cursor is the last record id of the page.
const encodeIdCursor = (id: bigint): string => writeCursorJson({ id: id.toString() });

const decodeIdCursor = (raw: string): bigint =>
  readCursorJson(raw, ({ id }) => (typeof id === 'string' && /^[1-9][0-9]{0,18}$/.test(id) && BigInt(id) <= 9_223_372_036_854_775_807n ? BigInt(id) : null));

/** GET /api/contacts/:id/consent: the contact's consent record, newest first, keyset-paged. */
export async function listConsentRecords(
  db: DbOrTx,
  shopId: string,
  contactId: string,
  query: ListConsentRecordsQuery,
): Promise<{ data: ConsentRecordView[]; nextCursor: string | null }> {
  const limit = query.limit ?? 50;
  const before = query.cursor === undefined ? null : decodeIdCursor(query.cursor);
  const [contact] = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM contacts WHERE id = ${contactId}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL`;
  if (!contact) throw notFound('Contact');
  const rows = await db.$queryRaw<Row[]>`
    SELECT id, state, source, collected_at, recorded_at, evidence FROM contact_consent_records
     WHERE contact_id = ${contactId}::uuid AND shop_id = ${shopId}::uuid
       AND (${before}::bigint IS NULL OR id < ${before}::bigint)
     ORDER BY id DESC LIMIT ${limit + 1}`;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    data: page.map((r) => ({
      id: r.id.toString(),
      state: r.state,
      source: r.source,
      collectedAt: r.collected_at.toISOString(),
      recordedAt: r.recorded_at.toISOString(),
      evidence: r.evidence,
    })),
    nextCursor: rows.length > limit && last ? encodeIdCursor(last.id) : null,
  };
}
