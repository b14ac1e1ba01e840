import type { Db, DbOrTx, Tx } from '../../lib/db';
import { getContext } from '../../lib/context';

/** Where a consent change comes from (contact_consent_records.source). */
export type ConsentSource = 'shopify' | 'import' | 'keyword' | 'api' | 'checkout' | 'double_opt_in';

/** Evidence values stay small: the record is bounded (2 KiB) by a CHECK. */
export type Evidence = Record<string, string | number | boolean | null | (string | number)[]>;

export interface ConsentSourceDeclaration {
  source: ConsentSource;
  /** When the consent was given or withdrawn (default: now). */
  collectedAt?: Date;
  /** Evidence for every contact the next statements change. */
  evidence?: Evidence;
  /** Evidence of one contact, by its phone hash (bulk paths: the import rows). */
  byHash?: Record<string, Evidence>;
}

const MAX_TEXT = 160;

/** Trims evidence strings so one record stays within the table's bound. */
export function boundedText(s: string | null | undefined): string | null {
  if (s === null || s === undefined) return null;
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

/**
 * Declares, for the rest of the transaction, where the consent changes that
 * follow come from: the triggers on contacts write one consent record per
 * contact whose state a statement changes, with this source and evidence, in
 * that same statement. Must run inside the transaction of the change (the
 * setting is transaction-local: on a bare client it would vanish at once).
 */
export async function declareConsentSource(tx: Tx, d: ConsentSourceDeclaration): Promise<void> {
  const ctx = JSON.stringify({ source: d.source, collectedAt: d.collectedAt?.toISOString() ?? null, evidence: d.evidence ?? {}, byHash: d.byHash ?? {} });
  await tx.$queryRaw`SELECT set_config('app.consent_context', ${ctx}, true)`;
}

/**
 * GDPR erasure of consent records: the only deletion the table accepts
 * (its trigger refuses DELETE unless app.gdpr_erasure is on in the
 * transaction). Also arms cascades from deleting contacts or a shop.
 */
export async function allowConsentErasure(tx: Tx): Promise<void> {
  await tx.$queryRaw`SELECT set_config('app.gdpr_erasure', 'on', true)`;
}

/** Erases the consent records of these contacts (customers/redact, DELETE /api/contacts/:id). */
export async function eraseConsentRecords(tx: Tx, shopId: string, contactIds: string[]): Promise<number> {
  if (contactIds.length === 0) return 0;
  await allowConsentErasure(tx);
  return tx.$executeRaw`
    DELETE FROM contact_consent_records WHERE shop_id = ${shopId}::uuid AND contact_id = ANY(${contactIds}::uuid[])`;
}

const isDb = (db: DbOrTx): db is Db => '$transaction' in db;

/** `fn` in the caller's transaction, or in a new short one. */
export async function inTransaction<T>(db: DbOrTx, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return isDb(db) ? db.$transaction(fn) : fn(db);
}

/**
 * Runs a consent change declared as coming from the API, with the request id
 * as evidence, in a transaction (the caller's, or a new short one).
 */
export async function withApiConsentSource<T>(db: DbOrTx, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const run = async (tx: Tx): Promise<T> => {
    await declareConsentSource(tx, { source: 'api', evidence: { requestId: boundedText(getContext().requestId ?? null) } });
    return fn(tx);
  };
  return inTransaction(db, run);
}
