import type { CountryCode } from 'libphonenumber-js/max';
import type { Db } from '../../lib/db';
import { contactCreateSchema, MAX_TAGS, type ContactCreateInput } from './contact-input';
import { failContactImport } from './fail-contact-import';
import { describeIssue } from './import-rows';
import { isPhoneCountry } from './phone';
import { upsertContacts, type ContactUpsert } from './upsert-contacts';
import { lockBuyerPhones } from '../orders/buyer-phone-lock';
import { linkEarlierPurchases } from './link-earlier-purchases';
import { declareConsentSource } from '../consent/consent-source';

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

type Validated = { valid: { row: number; input: ContactCreateInput }[]; rejected: ImportRejection[] };

function validateRow(schema: ReturnType<typeof contactCreateSchema>, value: unknown, row: number, out: Validated): void {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    out.valid.push({ row, input: parsed.data });
    return;
  }
  const issue = parsed.error.issues[0]!;
  const code = issue.path[0] === 'phone' && issue.code === 'custom' ? 'INVALID_PHONE' : 'VALIDATION_FAILED';
  out.rejected.push({ row, code, message: describeIssue(issue) });
}

/** Validates rows [start, end) of an import: valid contacts keep their row index. */
export function validateImportRows(rows: unknown[], start: number, defaultCountry?: CountryCode): Validated {
  const schema = contactCreateSchema(defaultCountry);
  const out: Validated = { valid: [], rejected: [] };
  rows.forEach((value, i) => validateRow(schema, value, start + i, out));
  return out;
}

/** Whether a row's consent changes what the number's earlier rows decided (see collapseByPhone). */
function decidesConsent(sofar: ContactUpsert['smsConsent'], row: ContactCreateInput['smsConsent']): boolean {
  return row !== undefined && row !== 'pending' && sofar !== 'unsubscribed';
}

/**
 * Rows of one number merged into one upsert (ON CONFLICT cannot touch a row
 * twice in a statement), as if applied in order: a later value wins, tags add
 * up and `pending` decides nothing. Consent as the upserts one after another
 * would leave it: `unsubscribed` records an opt-out that no later
 * `subscribed` row lifts (an upsert never lifts one), so once a row of the
 * number says `unsubscribed` the number stays opted out, whether its rows
 * fall in one chunk or several.
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
    if (decidesConsent(u.smsConsent, input.smsConsent)) u.smsConsent = input.smsConsent;
    if (input.tags) u.tags = [...new Set([...(u.tags ?? []), ...input.tags])].slice(0, MAX_TAGS);
    if (input.timezone !== undefined) u.timezone = input.timezone;
  }
  return [...groups.values()];
}

/** Starts of the job (retries, restarts after a crash) after which an import is given up. */
export const IMPORT_MAX_ATTEMPTS = 10;

/** Rows validated between two yields to the event loop (sends and webhooks share the process). */
const VALIDATE_SLICE = 100;

/** Above any row index (a range bound the primary key can scan to). */
const MAX_ROW_INDEX = 2_147_483_647;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface StagedRowRecord {
  row_index: number;
  data: unknown;
  problem: string | null;
}

/** Validates one chunk of staged rows, yielding every VALIDATE_SLICE rows (phone parsing is the costly part). */
async function validateChunk(rows: StagedRowRecord[], country?: CountryCode): Promise<Validated> {
  const schema = contactCreateSchema(country);
  const out: Validated = { valid: [], rejected: [] };
  for (const [i, r] of rows.entries()) {
    if (i > 0 && i % VALIDATE_SLICE === 0) await yieldToLoop();
    if (r.problem !== null) out.rejected.push({ row: r.row_index, code: 'VALIDATION_FAILED', message: r.problem });
    else validateRow(schema, r.data, r.row_index, out);
  }
  return out;
}

/**
 * The contacts.import.v1 job. Reads the staged rows in chunks by row index
 * from the cursor `processed` (so memory does not grow with the import);
 * each chunk is one transaction: a set-based upsert, its rejections, the
 * progress and the deletion of the chunk's staged rows, under a lock on the
 * import row. A re-run (retry, duplicate job, crash) resumes from
 * `processed`, so nothing is counted or written twice. The transaction that
 * ends the import deletes whatever is still staged.
 */
export async function importContacts(
  db: Db,
  opts: { importId: string; chunkSize?: number; onProgress?: (p: { processed: number; total: number }) => Promise<void> | void },
): Promise<ImportProgress> {
  const chunkSize = opts.chunkSize ?? IMPORT_CHUNK_SIZE;
  const [imp] = await db.$queryRaw<{ shop_id: string; total: number; attempts: number; default_country: string | null }[]>`
    UPDATE contact_imports SET status = 'running', attempts = attempts + 1, updated_at = now()
     WHERE id = ${opts.importId}::uuid AND status IN ('queued', 'running')
    RETURNING shop_id, total, attempts, default_country`;
  if (!imp) return readProgress(db, opts.importId);
  if (imp.attempts > IMPORT_MAX_ATTEMPTS) {
    await failContactImport(db, opts.importId, 'The import could not be completed; submit it again');
    return readProgress(db, opts.importId);
  }
  const country = imp.default_country && isPhoneCountry(imp.default_country) ? imp.default_country : undefined;

  for (let done = false; !done; ) {
    const step = await db.$transaction(async (tx) => {
      // The lock makes a concurrent run of the same import wait, then see our progress.
      const [cur] = await tx.$queryRaw<{ processed: number; status: string }[]>`
        SELECT processed, status FROM contact_imports WHERE id = ${opts.importId}::uuid FOR UPDATE`;
      if (!cur || cur.status !== 'running') return null;
      const rows =
        cur.processed >= imp.total
          ? []
          : await tx.$queryRaw<StagedRowRecord[]>`
              SELECT row_index, data, problem FROM contact_import_rows
               WHERE import_id = ${opts.importId}::uuid AND row_index >= ${cur.processed}
               ORDER BY row_index LIMIT ${chunkSize}`;
      if (rows.length === 0 && cur.processed < imp.total) return { missing: true as const };
      const { valid, rejected } = await validateChunk(rows, country);
      const groups = collapseByPhone(valid.map((v) => v.input));
      // The consent record of each contact the chunk changes names the import and the row that decided its
      // consent: as collapseByPhone decides, the number's last row giving one, else its first row.
      const rowByHash: Record<string, { importId: string; row: number }> = {};
      const decided = new Map<string, ContactUpsert['smsConsent']>();
      for (const v of valid) {
        const sofar = decided.get(v.input.phoneHash);
        if (decidesConsent(sofar, v.input.smsConsent)) decided.set(v.input.phoneHash, v.input.smsConsent);
        else if (rowByHash[v.input.phoneHash]) continue;
        rowByHash[v.input.phoneHash] = { importId: opts.importId, row: v.row };
      }
      await declareConsentSource(tx, { source: 'import', evidence: { importId: opts.importId }, byHash: rowByHash });
      // The chunk's numbers, sorted, in one statement, before any contact row (as orders/create and checkouts/* of a
      // buyer of no customer take them): an order or checkout of one of them stored meanwhile is linked once.
      await lockBuyerPhones(tx, imp.shop_id, groups.map((g) => g.upsert.phoneHash));
      const results = await upsertContacts(tx, imp.shop_id, groups.map((g) => g.upsert), 'import');
      // The chunk's new contacts link the earlier orders and open checkouts their numbers alone name, as a
      // customers/* webhook bringing them would: a few statements for the whole chunk (link-earlier-purchases.ts).
      await linkEarlierPurchases(tx, { shopId: imp.shop_id, contactIds: results.filter((r) => r.created).map((r) => r.id), traceId: null });
      const createdByHash = new Set(results.filter((r) => r.created).map((r) => r.phone_hash));
      let created = 0;
      for (const g of groups) if (createdByHash.has(g.upsert.phoneHash)) created++;
      const updated = valid.length - created;
      if (rejected.length > 0) {
        await tx.$executeRaw`
          INSERT INTO contact_import_rejections (import_id, row_index, code, message)
          SELECT ${opts.importId}::uuid, x.row, x.code, x.message FROM jsonb_to_recordset(${JSON.stringify(rejected)}::jsonb) AS x(row int, code text, message text)
          ON CONFLICT DO NOTHING`;
      }
      const end = rows.length > 0 ? rows[rows.length - 1]!.row_index + 1 : imp.total;
      const last = end >= imp.total;
      await tx.$executeRaw`
        UPDATE contact_imports
           SET processed = ${end}, created = created + ${created}, updated = updated + ${updated},
               rejected_count = rejected_count + ${rejected.length}, updated_at = now(),
               status = CASE WHEN ${last}::boolean THEN 'completed' ELSE status END,
               completed_at = CASE WHEN ${last}::boolean THEN now() ELSE completed_at END
         WHERE id = ${opts.importId}::uuid`;
      // Applied rows go at once; the chunk that ends the import takes any leftovers with it.
      await tx.$executeRaw`
        DELETE FROM contact_import_rows WHERE import_id = ${opts.importId}::uuid AND row_index < ${last ? MAX_ROW_INDEX : end}`;
      return { processed: end, last };
    }, { timeout: 60_000 });
    if (!step) break;
    if ('missing' in step) {
      await failContactImport(db, opts.importId, 'the import rows are missing');
      break;
    }
    done = step.last;
    await opts.onProgress?.({ processed: step.processed, total: imp.total });
    await yieldToLoop();
  }
  return readProgress(db, opts.importId);
}

async function readProgress(db: Db, importId: string): Promise<ImportProgress> {
  const [row] = await db.$queryRaw<ImportProgress[]>`
    SELECT status, total, processed, created, updated FROM contact_imports WHERE id = ${importId}::uuid`;
  if (!row) throw new Error(`contact import ${importId} does not exist`);
  return row;
}
