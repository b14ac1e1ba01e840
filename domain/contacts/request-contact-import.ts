import { z } from 'zod';
import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { isStorableText } from '../../lib/storable-text';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { publishCommitted, writeOutboxEvent } from '../outbox/outbox';
import type { Producer } from '../../queue/producer';
import { countryField } from './contact-input';
import { stageImportRows, stageRow } from './import-rows';

export const MAX_IMPORT_ROWS = 50_000;

type Leaf = string | number | boolean | null;
const isLeaf = (v: unknown): v is Leaf => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const storableString = (s: string): boolean => s.length <= 1000 && isStorableText(s);

/**
 * Why a row fails the whole request (null when it does not): each row is a
 * flat object (values: scalars or short arrays of scalars) without NULs,
 * which jsonb cannot hold. Anything finer (unknown fields, lengths, a valid
 * contact) is decided per row and reported as that row's rejection.
 */
function unstorable(row: unknown): { key?: string; message: string } | null {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return { message: 'must be an object' };
  const entries = Object.entries(row);
  if (entries.length > 20) return { message: 'has more than 20 fields' };
  for (const [key, value] of entries) {
    if (key.length > 64 || !isStorableText(key)) return { message: 'field names are at most 64 characters' };
    const values = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && value.length > 200) return { key, message: 'at most 200 items' };
    for (const v of values) {
      if (!isLeaf(v)) return { key, message: 'must be a string, number, boolean, null or an array of those' };
      if (typeof v === 'string' && !storableString(v)) return { key, message: 'strings are at most 1000 characters, without NUL or unpaired surrogates' };
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

/** The request's transaction stages up to 50 000 rows (about a second); the 5 s default is too tight under load. */
const REQUEST_TX_TIMEOUT_MS = 30_000;

/**
 * Records the import, its staged rows (known fields only, see import-rows.ts)
 * and its outbox event in one transaction, then publishes the job. If
 * publishing fails the import is still accepted: the outbox dispatcher
 * publishes it. The guard (Idempotency-Key fence) is checked in the same
 * transaction, so a request whose key was taken over by a retry cannot create
 * a second import. A shop has at most one import queued or running (a partial
 * unique index): another one is 409 IMPORT_IN_PROGRESS naming it.
 */
export async function requestContactImport(
  db: Db,
  producer: Producer,
  req: ContactImportRequest & { shopId: string; traceId?: string },
  guard: IdempotencyGuard = UNGUARDED,
): Promise<{ importId: string; status: 'queued' }> {
  const staged = req.contacts.map(stageRow);
  const { importId, outbox } = await db.$transaction(async (tx) => {
    await guard.assertHeld(tx);
    const [row] = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO contact_imports (shop_id, total, default_country, trace_id)
      VALUES (${req.shopId}::uuid, ${req.contacts.length}, ${req.defaultCountry ?? null}, ${req.traceId ?? null})
      ON CONFLICT (shop_id) WHERE status IN ('queued', 'running') DO NOTHING
      RETURNING id`;
    if (!row) {
      const [current] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM contact_imports WHERE shop_id = ${req.shopId}::uuid AND status IN ('queued', 'running')`;
      throw new AppError('IMPORT_IN_PROGRESS', 'Another import of this shop is still queued or running; submit this one when it has ended', {
        details: { importId: current?.id ?? null },
      });
    }
    const id = row.id;
    await stageImportRows(tx, id, staged);
    const outbox = await writeOutboxEvent(tx, { type: 'contacts.import.v1', aggregateId: id, payload: { importId: id, shopId: req.shopId }, traceId: req.traceId });
    return { importId: id, outbox };
  }, { timeout: REQUEST_TX_TIMEOUT_MS });
  await publishCommitted(db, producer, [outbox]);
  return { importId, status: 'queued' };
}
