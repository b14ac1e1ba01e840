import { z } from 'zod';
import type { Tx } from '../../lib/db';
import { cutText } from '../../lib/storable-text';
import { MAX_TAGS, RAW_MAX } from './contact-input';

// What an import keeps of its rows until the job has applied them: one
// contact_import_rows row each, holding only the known contact fields, each
// no longer than its rules could accept. A row with any other field, or an
// oversized value, keeps none of its values: only why it is refused, which
// the job reports as that row's rejection. So junk columns are refused per
// row (strict, not stripped: a misspelt `smsconsent: "unsubscribed"` must not
// import the contact silently without the opt-out) and never stored.

const leaf = (max: number) => z.union([z.string().max(max), z.number(), z.boolean(), z.null()]);

const stagedRowSchema = z
  .object({
    phone: leaf(RAW_MAX.phone).optional(),
    country: leaf(RAW_MAX.country).optional(),
    email: leaf(RAW_MAX.email).optional(),
    firstName: leaf(RAW_MAX.name).optional(),
    lastName: leaf(RAW_MAX.name).optional(),
    smsConsent: leaf(RAW_MAX.consent).optional(),
    tags: z.union([z.array(leaf(RAW_MAX.tag)).max(MAX_TAGS), leaf(RAW_MAX.tag)]).optional(),
    timezone: leaf(RAW_MAX.timezone).optional(),
  })
  .strict();

export const STAGED_FIELDS = Object.keys(stagedRowSchema.shape);
const KNOWN = new Set(STAGED_FIELDS);

/** How a rejected row is described: the field(s) at fault and zod's words, at most 200 characters (whole ones). */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.');
  return cutText(`${path || 'row'}: ${issue.message}`, 200);
}

export type StagedRow = { data: Record<string, unknown>; problem?: undefined } | { data?: undefined; problem: string };

export function stageRow(row: unknown): StagedRow {
  if (typeof row === 'object' && row !== null && !Array.isArray(row)) {
    // The common junk case, answered without a zod error per row (45 000 of
    // them cost a maximum-size request over a second of CPU).
    const unknown = Object.keys(row).filter((k) => !KNOWN.has(k));
    // Field names are the client's own: cut whole characters (half an emoji is text jsonb refuses: a 500 for the request).
    if (unknown.length > 0) return { problem: cutText(`${unknown.join(', ')}: not a contact field (a row has only ${STAGED_FIELDS.join(', ')})`, 200) };
  }
  const parsed = stagedRowSchema.safeParse(row);
  return parsed.success ? { data: parsed.data } : { problem: describeIssue(parsed.error.issues[0]!) };
}

/** Rows per INSERT: one jsonb parameter of at most a few hundred KB. */
const STAGE_CHUNK = 2_000;

/**
 * Stages an import's rows in multi-row INSERTs of STAGE_CHUNK rows (one
 * statement for 50 000 rows ran into the request's transaction timeout).
 */
export async function stageImportRows(tx: Tx, importId: string, rows: StagedRow[]): Promise<void> {
  for (let start = 0; start < rows.length; start += STAGE_CHUNK) {
    const chunk = JSON.stringify(rows.slice(start, start + STAGE_CHUNK).map((r, i) => ({ i: start + i, d: r.data ?? null, p: r.problem ?? null })));
    await tx.$executeRaw`
      INSERT INTO contact_import_rows (import_id, row_index, data, problem)
      SELECT ${importId}::uuid, x.i, x.d, x.p FROM jsonb_to_recordset(${chunk}::jsonb) AS x(i int, d jsonb, p text)`;
  }
}
