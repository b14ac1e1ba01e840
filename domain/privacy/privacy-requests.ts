import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { decodeCursor, pageOf } from '../../lib/cursor';
import { notFound } from '../../lib/errors';

export type PrivacyRequestKind = 'data_request' | 'customer_redact' | 'shop_redact';

export interface PrivacyRequestSummary {
  id: string;
  kind: PrivacyRequestKind;
  shopifyCustomerId: string | null;
  createdAt: string;
}

export interface PrivacyRequestView extends PrivacyRequestSummary {
  /** data_request: what we hold on the customer; customer_redact: what was erased. */
  data: unknown;
}

interface Row {
  id: string;
  kind: PrivacyRequestKind;
  shopify_customer_id: string | null;
  data?: unknown;
  created_at: Date;
}

const summary = (r: Row): PrivacyRequestSummary => ({ id: r.id, kind: r.kind, shopifyCustomerId: r.shopify_customer_id, createdAt: r.created_at.toISOString() });

export const listPrivacyRequestsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(200).optional(),
});

/** Newest first; the list carries no customer data (only the detail does). */
export async function listPrivacyRequests(
  db: DbOrTx,
  shopId: string,
  query: z.output<typeof listPrivacyRequestsQuerySchema>,
): Promise<{ data: PrivacyRequestSummary[]; nextCursor: string | null }> {
  const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor);
  const rows = await db.$queryRaw<Row[]>`
    SELECT id, kind, shopify_customer_id, created_at FROM privacy_requests
     WHERE shop_id = ${shopId}::uuid
       AND (${cursor?.createdAt ?? null}::timestamptz IS NULL OR (created_at, id) < (${cursor?.createdAt ?? null}::timestamptz, ${cursor?.id ?? null}::uuid))
     ORDER BY created_at DESC, id DESC
     LIMIT ${query.limit + 1}::int`;
  return pageOf(rows, query.limit, summary);
}

/** One of the shop's privacy requests; another shop's id is NOT_FOUND like an unknown one. */
export async function getPrivacyRequest(db: DbOrTx, shopId: string, id: string): Promise<PrivacyRequestView> {
  const [row] = await db.$queryRaw<Row[]>`
    SELECT id, kind, shopify_customer_id, data, created_at FROM privacy_requests WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid`;
  if (!row) throw notFound('Privacy request');
  return { ...summary(row), data: row.data ?? {} };
}
