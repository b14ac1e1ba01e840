import type { CountryCode } from 'libphonenumber-js/max';
import type { Db } from '../../lib/db';
import { contactCreateSchema, MAX_TAGS, type ContactCreateInput } from './contact-input';
import { failContactImport } from './fail-contact-import';
import { isPhoneCountry } from './phone';
import { upsertContacts, type ContactUpsert } from './upsert-contacts';

export const IMPORT_CHUNK_SIZE = 1_000;

export interface ImportRejection {
  row: number;
  code: 'INVALID_PHONE' | 'VALIDATION_FAILED';
  message: string;
}

export interface ImportProgress {
  status: 'queued' | 'running' | 'completed' | 'failed';
  total: number;
  processed: number;
  created: number;
  updated: number;
}

/** Validates rows [start, end) of an import: valid contacts keep their row index. */
export function validateImportRows(rows: unknown[], start: number, defaultCountry?: CountryCode): { valid: { row: number; input: ContactCreateInput }[]; rejected: ImportRejection[] } {
  const schema = contactCreateSchema(defaultCountry);
  const valid: { row: number; input: ContactCreateInput }[] = [];
  const rejected: ImportRejection[] = [];
  rows.forEach((value, i) => {
    const row = start + i;
    const parsed = schema.safeParse(value);
    if (parsed.success) {
      valid.push({ row, input: parsed.data });
      return;
    }
    const issue = parsed.error.issues[0]!;
    const path = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.');
    const code = issue.path[0] === 'phone' && issue.code === 'custom' ? 'INVALID_PHONE' : 'VALIDATION_FAILED';
    rejected.push({ row, code, message: `${path || 'row'}: ${issue.message}`.slice(0, 200) });
  });
  return { valid, rejected };
}

/**
 * Rows of one number merged into one upsert (ON CONFLICT cannot touch a row
 * twice in a statement), as if applied in order: a later value wins, tags add
 * up, a later subscribe/unsubscribe wins and `pending` decides nothing.
 */
export function collapseByPhone(inputs: ContactCreateInput[]): { upsert: ContactUpsert; rows: number }[] {
  const groups = new Map<string, { upsert: ContactUpsert; rows: number }>();
  for (const input of inputs) {
    const g = groups.get(input.phoneHash);
    if (!g) {
      groups.set(input.phoneHash, { upsert: { ...input, smsConsent: input.smsConsent === 'pending' ? undefined : input.smsConsent }, rows: 1 });
      continue;
    }
    const u = g.upsert;
    g.rows++;
    u.phoneE164 = input.phoneE164;
    if (input.email !== undefined) u.email = input.email;
    if (input.firstName !== undefined) u.firstName = input.firstName;
    if (input.lastName !== undefined) u.lastName = input.lastName;
    if (input.smsConsent !== undefined && input.smsConsent !== 'pending') u.smsConsent = input.smsConsent;
    if (input.tags) u.tags = [...new Set([...(u.tags ?? []), ...input.tags])].slice(0, MAX_TAGS);
  }
  return [...groups.values()];
}

interface ImportRow {
  shop_id: string;
  status: ImportProgress['status'];
  total: number;
  processed: number;
  created: number;
  updated: number;
  rows: unknown[] | null;
  default_country: string | null;
}

/**
 * The contacts.import.v1 job. Works through the rows in chunks; each chunk is
 * one transaction: a set-based upsert plus the progress (processed, created,
 * updated, rejections) under a lock on the import row. A re-run (retry,
 * duplicate job, crash) resumes from `processed`, so nothing is counted or
 * written twice. At the end the rows (PII) are dropped and the import completes.
 */
export async function importContacts(
  db: Db,
  opts: { importId: string; chunkSize?: number; onProgress?: (p: { processed: number; total: number }) => Promise<void> | void },
): Promise<ImportProgress> {
  const chunkSize = opts.chunkSize ?? IMPORT_CHUNK_SIZE;
  const [imp] = await db.$queryRaw<ImportRow[]>`
    UPDATE contact_imports SET status = 'running', updated_at = now()
     WHERE id = ${opts.importId}::uuid AND status IN ('queued', 'running')
    RETURNING shop_id, status, total, processed, created, updated, rows, default_country`;
  if (!imp) return readProgress(db, opts.importId);
  if (imp.processed < imp.total && !Array.isArray(imp.rows)) {
    await failContactImport(db, opts.importId, 'the import rows are missing');
    return readProgress(db, opts.importId);
  }
  const rows = imp.rows ?? [];
  const country = imp.default_country && isPhoneCountry(imp.default_country) ? imp.default_country : undefined;

  if (imp.processed >= imp.total) {
    // Nothing left (an empty import): complete it.
    await db.$executeRaw`UPDATE contact_imports SET status = 'completed', rows = NULL, completed_at = now(), updated_at = now() WHERE id = ${opts.importId}::uuid AND status = 'running'`;
    return readProgress(db, opts.importId);
  }
  for (let done = false; !done; ) {
    const step = await db.$transaction(async (tx) => {
      // The lock makes a concurrent run of the same import wait, then see our progress.
      const [cur] = await tx.$queryRaw<{ processed: number; status: string }[]>`
        SELECT processed, status FROM contact_imports WHERE id = ${opts.importId}::uuid FOR UPDATE`;
      if (!cur || cur.status !== 'running') return null;
      const start = cur.processed;
      const end = Math.min(start + chunkSize, imp.total);
      const { valid, rejected } = validateImportRows(rows.slice(start, end), start, country);
      const groups = collapseByPhone(valid.map((v) => v.input));
      const results = await upsertContacts(tx, imp.shop_id, groups.map((g) => g.upsert), 'import');
      const createdByHash = new Set(results.filter((r) => r.created).map((r) => r.phone_hash));
      let created = 0;
      for (const g of groups) if (createdByHash.has(g.upsert.phoneHash)) created++;
      const updated = valid.length - created;
      const last = end >= imp.total;
      await tx.$executeRaw`
        UPDATE contact_imports
           SET processed = ${end}, created = created + ${created}, updated = updated + ${updated},
               rejected = rejected || ${JSON.stringify(rejected)}::jsonb, updated_at = now(),
               status = CASE WHEN ${last}::boolean THEN 'completed' ELSE status END,
               rows = CASE WHEN ${last}::boolean THEN NULL ELSE rows END,
               completed_at = CASE WHEN ${last}::boolean THEN now() ELSE completed_at END
         WHERE id = ${opts.importId}::uuid`;
      return { processed: end, last };
    }, { timeout: 60_000 });
    if (!step) break;
    done = step.last;
    await opts.onProgress?.({ processed: step.processed, total: imp.total });
  }
  return readProgress(db, opts.importId);
}

async function readProgress(db: Db, importId: string): Promise<ImportProgress> {
  const [row] = await db.$queryRaw<ImportProgress[]>`
    SELECT status, total, processed, created, updated FROM contact_imports WHERE id = ${importId}::uuid`;
  if (!row) throw new Error(`contact import ${importId} does not exist`);
  return row;
}
