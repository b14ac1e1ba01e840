import { empty, sql, type Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJobs } from '../../queue/ensure-job';
import { consentWritebackJob } from '../outbox/outbox';
import { FROM_OLDEST, scanRotating, type PassCursors } from './pass-cursor';

/** A write-back's job runs within seconds, or touches its row on every retry; one quiet this long has lost it. */
export const CONSENT_WRITEBACK_QUIET_MS = 5 * 60_000;

/**
 * Consent write-backs still `pending` and untouched for `quietMs`: the job
 * their outbox event published was lost (Redis), or gave up without settling
 * the row (the database failed it too). The job of the row's newest record
 * is added again under its deterministic id; a live one (waiting behind a big
 * import's write-backs, which drain at the shop's Shopify rate) is left alone,
 * and the scan resumes past it on the next pass (`cursors`). The job writes
 * the contact's current state, so a late one writes nothing stale.
 */
export async function requeueConsentWritebacks(
  deps: { db: Db; queues: QueueSet },
  opts: { now: Date; limit: number; quietMs?: number; cursors?: PassCursors },
): Promise<number> {
  const quietSince = new Date(opts.now.getTime() - (opts.quietMs ?? CONSENT_WRITEBACK_QUIET_MS));
  const rows = await scanRotating(
    opts.cursors ?? FROM_OLDEST,
    'consent-writebacks',
    opts.limit,
    (after, n) => deps.db.$queryRaw<{ contact_id: string; shop_id: string; record_id: bigint; updated_at: Date }[]>`
      SELECT contact_id, shop_id, record_id, updated_at FROM shopify_consent_writebacks
       WHERE status = 'pending' AND updated_at < ${quietSince}
         ${after ? sql`AND (updated_at, contact_id) > (${after[0]}::timestamptz, ${after[1]}::uuid)` : empty}
       ORDER BY updated_at, contact_id
       LIMIT ${n}`,
    (w) => [w.updated_at.toISOString(), w.contact_id],
  );
  return ensureJobs(
    deps.queues,
    'contact.consent-writeback.v1',
    rows.map((w) => {
      const recordId = String(w.record_id);
      return consentWritebackJob({ shopId: w.shop_id, contactId: w.contact_id, recordId }, `reconcile-consent-wb-${recordId}`);
    }),
  );
}
