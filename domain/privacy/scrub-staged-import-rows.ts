import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { Tx } from '../../lib/db';
import { isPhoneCountry, normalizePhone } from '../contacts/phone';

/** Candidate rows read per statement: memory stays flat whatever the import's size. */
const PAGE = 1_000;

// The last digits of a number survive every way of typing it (national
// format, trunk prefix, "00"/"011", punctuation): only the front varies.
// Four keep the SQL prefilter safe for the shortest national numbers while
// leaving about one staged row in 10 000 to parse here.
const SUFFIX_DIGITS = 4;

export const STAGED_ROW_REDACTED = "row: removed at the customer's request";

interface Candidate {
  import_id: string;
  row_index: number;
  phone: string | null;
  country: string | null;
  default_country: string | null;
}

/**
 * Staged import rows (not yet applied) whose phone is one of `e164s` however
 * it was typed: `(973) 555-0177` and `973-555-0177` under the import's
 * default country US are +19735550177 as much as `+19735550177` is. Each
 * candidate is parsed as the import will parse it (the row's country, else
 * the import's default); a row the import would refuse for its country is
 * read with the default, as a refused row still holds its number until the
 * job reaches it. Their values are replaced by why, which the job reports as
 * the row's rejection. A shop has at most one import in flight (≤ 50 000
 * rows): one indexed scan with a digits prefilter in SQL, then pages of
 * candidates.
 */
export async function scrubStagedImportRowsByPhone(tx: Tx, shopId: string, e164s: string[]): Promise<number> {
  const targets = new Set(e164s.map((p) => normalizePhone(p)).filter((p): p is string => p !== null));
  const suffixes = [...new Set([...targets].map((p) => parsePhoneNumberFromString(p)?.nationalNumber.slice(-SUFFIX_DIGITS)).filter((s): s is string => !!s))];
  if (suffixes.length === 0) return 0;

  let scrubbed = 0;
  let after: { importId: string; row: number } | null = null;
  for (;;) {
    const page: Candidate[] = await tx.$queryRaw<Candidate[]>`
      SELECT s.import_id, s.row_index, s.data->>'phone' AS phone, s.data->>'country' AS country, ci.default_country
        FROM contact_imports ci JOIN contact_import_rows s ON s.import_id = ci.id
       WHERE ci.shop_id = ${shopId}::uuid AND s.data IS NOT NULL
         AND right(regexp_replace(s.data->>'phone', '[^0-9]', '', 'g'), ${SUFFIX_DIGITS}::int) = ANY(${suffixes}::text[])
         AND (${after?.importId ?? null}::uuid IS NULL OR (s.import_id, s.row_index) > (${after?.importId ?? null}::uuid, ${after?.row ?? 0}::int))
       ORDER BY s.import_id, s.row_index
       LIMIT ${PAGE}`;
    const hits = page.filter((c) => c.phone !== null && targets.has(e164OfStaged(c.phone, c.country, c.default_country) ?? ''));
    if (hits.length > 0) {
      scrubbed += await tx.$executeRaw`
        UPDATE contact_import_rows s SET data = NULL, problem = ${STAGED_ROW_REDACTED}
          FROM unnest(${hits.map((h) => h.import_id)}::uuid[], ${hits.map((h) => h.row_index)}::int[]) AS k(import_id, row_index)
         WHERE s.import_id = k.import_id AND s.row_index = k.row_index AND s.data IS NOT NULL`;
    }
    if (page.length < PAGE) return scrubbed;
    const last = page[page.length - 1]!;
    after = { importId: last.import_id, row: last.row_index };
  }
}

function e164OfStaged(phone: string, country: string | null, defaultCountry: string | null): string | null {
  const own = country?.trim().toUpperCase();
  const fallback = defaultCountry && isPhoneCountry(defaultCountry) ? defaultCountry : undefined;
  return normalizePhone(phone, own && isPhoneCountry(own) ? own : fallback);
}
