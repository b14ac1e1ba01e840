import { z } from 'zod';
import type { Db } from '../../lib/db';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { publishOutboxRows, writeOutboxEvent } from '../outbox/outbox';
import type { Producer } from '../../queue/producer';
import { countryField } from './contact-input';

export const MAX_IMPORT_ROWS = 50_000;

type Leaf = string | number | boolean | null;
const isLeaf = (v: unknown): v is Leaf => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const storableString = (s: string): boolean => s.length <= 1000 && !s.includes('\u0000');

/**
 * Why a row cannot even be stored for the job (null when it can): each row is
 * a flat object (values: scalars or short arrays of scalars) without NULs,
 * which jsonb cannot hold. Whether it is a valid contact is the job's call,
 * reported per row.
 */
function unstorable(row: unknown): { key?: string; message: string } | null {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return { message: 'must be an object' };
  const entries = Object.entries(row);
  if (entries.length > 20) return { message: 'has more than 20 fields' };
  for (const [key, value] of entries) {
    if (key.length > 64 || key.includes('\u0000')) return { message: 'field names are at most 64 characters' };
    const values = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && value.length > 200) return { key, message: 'at most 200 items' };
    for (const v of values) {
      if (!isLeaf(v)) return { key, message: 'must be a string, number, boolean, null or an array of those' };
      if (typeof v === 'string' && !storableString(v)) return { key, message: 'strings are at most 1000 characters, without NUL' };
    }
  }
  return null;
}

export const contactImportRequestSchema = z
  .object({
    contacts: z
      .array(z.unknown())
      .min(1)
      .max(MAX_IMPORT_ROWS)
      .superRefine((rows, ctx) => {
        let problems = 0;
        for (let i = 0; i < rows.length && problems < 20; i++) {
          const p = unstorable(rows[i]);
          if (!p) continue;
          problems++;
          ctx.addIssue({ code: 'custom', path: p.key === undefined ? [i] : [i, p.key], message: p.message });
        }
      }),
    defaultCountry: countryField.optional(),
  })
  .strict();

export type ContactImportRequest = z.output<typeof contactImportRequestSchema>;

/**
 * Records the import (its rows kept in the row until the job is done) and its
 * outbox event in one transaction, then publishes the job. If publishing
 * fails the import is still accepted: the outbox dispatcher publishes it.
 * The guard (Idempotency-Key fence) is checked in the same transaction, so a
 * request whose key was taken over by a retry cannot create a second import.
 */
export async function requestContactImport(
  db: Db,
  producer: Producer,
  req: ContactImportRequest & { shopId: string; traceId?: string },
  guard: IdempotencyGuard = UNGUARDED,
): Promise<{ importId: string; status: 'queued' }> {
  const { importId, outbox } = await db.$transaction(async (tx) => {
    await guard.assertHeld(tx);
    const [row] = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO contact_imports (shop_id, total, rows, default_country, trace_id)
      VALUES (${req.shopId}::uuid, ${req.contacts.length}, ${JSON.stringify(req.contacts)}::jsonb, ${req.defaultCountry ?? null}, ${req.traceId ?? null})
      RETURNING id`;
    const id = row!.id;
    const outbox = await writeOutboxEvent(tx, { type: 'contacts.import.v1', aggregateId: id, payload: { importId: id, shopId: req.shopId }, traceId: req.traceId });
    return { importId: id, outbox };
  });
  try {
    await publishOutboxRows(db, producer, [outbox]);
  } catch {
    // Committed already: the dispatcher's next pass publishes it.
  }
  return { importId, status: 'queued' };
}
