import { randomUUID } from 'node:crypto';
import { readLines } from '../../lib/jsonl-lines';
import { adminGraphql, ShopifyAdminError } from '../shops/access-token/admin-graphql';
import type { ShopifyDeps } from '../shops/access-token/deps';
import { applyCustomerChunk, type ChunkCounts } from './apply-customer-chunk';
import { CUSTOMER_BULK_QUERY, readBulkCustomer, type SyncCustomer } from './bulk-customer';
import { failAndObserve, observeChunk, observeSyncEnd } from './finish-shop-sync';
import { isBulkFinished, recordBulkFinish } from './record-bulk-finish';
import type { ShopSyncRow } from './shop-sync-view';

/** Lines of the export applied per transaction (each chunk one short transaction). */
export const SYNC_CHUNK_LINES = 500;
/** How long a worker's claim on applying a sync lasts; renewed by every chunk. */
export const SYNC_LEASE_MS = 60_000;
/** Polls of a running export before the sync gives up (with the 30 s cap: about 8 hours). */
export const SYNC_MAX_POLLS = 1_000;
/** Claims of the apply step (crashes, lost downloads) before the sync fails. */
export const SYNC_MAX_APPLY_ATTEMPTS = 10;
/** A download that sends nothing for this long is aborted (and retried from the cursor). */
export const SYNC_DOWNLOAD_IDLE_MS = 30_000;

/** Polls back off from 1 s, doubling, to 30 s. */
export function pollDelayMs(polls: number): number {
  return Math.min(30_000, 1_000 * 2 ** Math.min(polls, 10));
}

export type SyncRunOutcome =
  /** The sync ended (now or before this run). */
  | { outcome: 'completed' | 'failed' | 'ended' }
  /** Shopify is still exporting: run again after `delayMs`. */
  | { outcome: 'waiting'; delayMs: number }
  /** Another worker is applying the export (or took it over from this one). */
  | { outcome: 'busy' };

/** Where the export's result is, and how many objects Shopify says it holds. */
interface ExportResult {
  url: string | null;
  objectCount: number | null;
}

interface BulkOperationNode {
  id: string;
  status: string;
  errorCode: string | null;
  objectCount: string | null;
  url: string | null;
}

const RUN_QUERY = `mutation RunCustomerExport($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}`;
const NODE_QUERY = `query SyncBulkOperation($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url } }
}`;
const CURRENT_QUERY = `query CurrentCustomerExport {
  currentBulkOperation(type: QUERY) { id status errorCode objectCount url }
}`;

/**
 * The shop.sync.v1 job: one run moves the sync as far as it can.
 *
 * 1. Starts Shopify's bulk export of the customers (bulkOperationRunQuery),
 *    once: its id is stored with a guarded UPDATE; an export already running
 *    for the app (a run that died before storing its id) is adopted.
 * 2. Until the export has finished (learnt by polling here, or by the
 *    bulk_operations/finish webhook, whichever first: recordBulkFinish),
 *    polls it and returns `waiting` (the job comes back after the delay).
 * 3. Claims the apply step (a lease in the row; one worker at a time), then
 *    streams the JSONL result line by line, skipping the lines already
 *    applied, and applies it in chunks of SYNC_CHUNK_LINES lines, each one
 *    short transaction that checks the claim and the cursor, applies the
 *    customers and adds the counts. A crash or a cut download resumes from
 *    the cursor; nothing is applied or counted twice.
 *
 * Throws ShopifyAdminError (and download errors) for the job to retry; a
 * refusal by Shopify or an export that ended FAILED fails the sync.
 */
export async function runShopSync(deps: ShopifyDeps, o: { syncId: string; chunkLines?: number }): Promise<SyncRunOutcome> {
  const { db } = deps;
  const [claimed] = await db.$queryRaw<ShopSyncRow[]>`
    UPDATE shop_syncs SET status = 'running', started_at = COALESCE(started_at, now()), updated_at = now()
     WHERE id = ${o.syncId}::uuid AND status IN ('queued', 'running')
    RETURNING *`;
  if (!claimed) return { outcome: 'ended' };
  let row = claimed;

  if (!row.bulk_operation_id) {
    const started = await startExport(deps, row);
    if (!started) return { outcome: 'failed' };
    row = started;
  }

  let result: ExportResult | undefined;
  if (!row.bulk_finished_via) {
    const op = await readOperation(deps, row);
    if (!op || !isBulkFinished(op.status)) {
      const [polled] = await db.$queryRaw<{ polls: number }[]>`
        UPDATE shop_syncs SET polls = polls + 1, bulk_status = ${op?.status?.slice(0, 64) ?? row.bulk_status}, updated_at = now()
         WHERE id = ${row.id}::uuid AND status = 'running'
        RETURNING polls`;
      if (!polled) return { outcome: 'ended' };
      if (polled.polls > SYNC_MAX_POLLS) {
        await failAndObserve(deps, row.id, `Shopify's customer export did not finish after ${SYNC_MAX_POLLS} checks; start a resync`);
        return { outcome: 'failed' };
      }
      return { outcome: 'waiting', delayMs: pollDelayMs(polled.polls) };
    }
    const recorded = await recordBulkFinish(db, {
      shopId: row.shop_id, bulkOperationId: row.bulk_operation_id!, status: op.status, errorCode: op.errorCode,
      objectCount: op.objectCount === null ? null : Number(op.objectCount), via: 'poll',
    });
    if (!recorded) return { outcome: 'ended' };
    if (recorded.won && recorded.row.status === 'failed') {
      observeSyncEnd(deps.metrics, recorded.row);
      deps.logger.warn({ syncId: row.id, shopId: row.shop_id, bulkStatus: op.status, errorCode: op.errorCode }, 'shop sync: Shopify export did not complete');
    }
    row = recorded.row;
    result = { url: op.url, objectCount: op.objectCount === null ? null : Number(op.objectCount) };
  }
  if (row.status !== 'running') return { outcome: row.status === 'completed' ? 'completed' : 'ended' };
  return applyExport(deps, row, result, o.chunkLines ?? SYNC_CHUNK_LINES);
}

/** Starts (or adopts) the export and stores its id; null when Shopify refused it (the sync is failed). */
async function startExport(deps: ShopifyDeps, row: ShopSyncRow): Promise<ShopSyncRow | null> {
  type Run = { bulkOperationRunQuery: { bulkOperation: { id: string; status: string } | null; userErrors: { message: string; code?: string | null }[] } };
  const { data } = await adminGraphql<Run>(deps, row.shop_id, RUN_QUERY, { query: CUSTOMER_BULK_QUERY });
  let op = data.bulkOperationRunQuery?.bulkOperation ?? null;
  const errors = data.bulkOperationRunQuery?.userErrors ?? [];
  if (!op && errors.some((e) => e.code === 'OPERATION_IN_PROGRESS' || /already in progress/i.test(e.message))) {
    // Shopify runs one bulk query per app and shop: ours, from a run that died before storing its id.
    const current = await adminGraphql<{ currentBulkOperation: BulkOperationNode | null }>(deps, row.shop_id, CURRENT_QUERY);
    const running = current.data.currentBulkOperation;
    if (running && !isBulkFinished(running.status)) op = { id: running.id, status: running.status };
    // Finished between the two calls: the next run starts a new one.
    else throw new ShopifyAdminError('unavailable', 'Shopify reported a bulk operation in progress that has finished since');
  }
  if (!op) {
    const why = errors.map((e) => e.message).join('; ').slice(0, 300) || 'no bulk operation returned';
    await failAndObserve(deps, row.id, `Shopify refused the customer export: ${why}`);
    return null;
  }
  const [stored] = await deps.db.$queryRaw<ShopSyncRow[]>`
    UPDATE shop_syncs SET bulk_operation_id = ${op.id.slice(0, 255)}, bulk_status = ${op.status.slice(0, 64)}, updated_at = now()
     WHERE id = ${row.id}::uuid AND status = 'running' AND bulk_operation_id IS NULL
    RETURNING *`;
  if (stored) {
    deps.logger.info({ syncId: row.id, shopId: row.shop_id, bulkOperationId: op.id }, 'shop sync: Shopify export started');
    return stored;
  }
  // Another run stored its id first: carry on with that one.
  const [current] = await deps.db.$queryRaw<ShopSyncRow[]>`SELECT * FROM shop_syncs WHERE id = ${row.id}::uuid`;
  return current?.status === 'running' && current.bulk_operation_id ? current : null;
}

/**
 * The export's state: `node(id)`, else `currentBulkOperation` when it is
 * ours (the polling Shopify's bulk-operation guide shows; a server that does
 * not answer `node` for bulk operations is still followed).
 */
async function readOperation(deps: ShopifyDeps, row: ShopSyncRow): Promise<BulkOperationNode | null> {
  try {
    const { data } = await adminGraphql<{ node: BulkOperationNode | null }>(deps, row.shop_id, NODE_QUERY, { id: row.bulk_operation_id });
    if (data.node && typeof data.node.status === 'string') return data.node;
  } catch (err) {
    if (!(err instanceof ShopifyAdminError) || err.kind !== 'failed') throw err;
  }
  const { data } = await adminGraphql<{ currentBulkOperation: BulkOperationNode | null }>(deps, row.shop_id, CURRENT_QUERY);
  const current = data.currentBulkOperation;
  return current && current.id === row.bulk_operation_id && typeof current.status === 'string' ? current : null;
}

/** Where a result may be downloaded from: https (Shopify's storage), or anything under the development override. */
function downloadable(deps: ShopifyDeps, url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || (deps.config.SHOPIFY_ADMIN_API_BASE !== undefined && u.protocol === 'http:');
  } catch {
    return false;
  }
}

async function applyExport(deps: ShopifyDeps, row: ShopSyncRow, known: ExportResult | undefined, chunkLines: number): Promise<SyncRunOutcome> {
  const { db, logger } = deps;
  const claim = randomUUID();
  const [claimed] = await db.$queryRaw<{ lines_applied: bigint; attempts: number }[]>`
    UPDATE shop_syncs SET claim_token = ${claim}::uuid, lease_until = now() + ${SYNC_LEASE_MS} * interval '1 millisecond',
           attempts = attempts + 1, updated_at = now()
     WHERE id = ${row.id}::uuid AND status = 'running' AND bulk_status = 'COMPLETED'
       AND (claim_token IS NULL OR lease_until < now())
    RETURNING lines_applied, attempts`;
  if (!claimed) return { outcome: 'busy' };
  if (claimed.attempts > SYNC_MAX_APPLY_ATTEMPTS) {
    await failAndObserve(deps, row.id, `The customer export could not be applied after ${SYNC_MAX_APPLY_ATTEMPTS} attempts; start a resync`);
    return { outcome: 'failed' };
  }
  let finished = false;
  const controller = new AbortController();
  const idle = setTimeout(() => controller.abort(new Error('download idle')), SYNC_DOWNLOAD_IDLE_MS);
  try {
    // The result URL is signed and short-lived: read it fresh unless this run polled it just now.
    let result: ExportResult;
    if (known) result = known;
    else {
      const op = await readOperation(deps, row);
      result = { url: op?.url ?? null, objectCount: op?.objectCount ? Number(op.objectCount) : null };
    }
    const url = result.url;
    let applied = Number(claimed.lines_applied);
    if (!url && (result.objectCount ?? 0) > 0) {
      // Shopify keeps a result for a week: an export finished longer ago than that cannot be read any more.
      await failAndObserve(deps, row.id, "Shopify's customer export has no result to download any more; start a resync");
      finished = true;
      return { outcome: 'failed' };
    }
    if (url) {
      if (!downloadable(deps, url)) {
        await failAndObserve(deps, row.id, 'Shopify returned a result URL that is not https; start a resync');
        finished = true;
        return { outcome: 'failed' };
      }
      const res = await fetch(url, { signal: controller.signal });
      if (!res.ok || !res.body) throw new ShopifyAdminError('unavailable', `the export download answered ${res.status}`);
      const toSkip = applied;
      let seen = 0;
      let lines = 0;
      let malformed = 0;
      let batch: SyncCustomer[] = [];
      const flush = async (): Promise<boolean> => {
        const ok = await applyChunk(deps, row, claim, applied, lines, batch);
        if (!ok) return false;
        applied += lines;
        lines = 0;
        batch = [];
        idle.refresh();
        return true;
      };
      for await (const line of readLines(withIdle(res.body as unknown as AsyncIterable<Uint8Array>, idle))) {
        if (seen++ < toSkip) continue;
        lines++;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          malformed++;
        }
        const customer = value === undefined ? null : readBulkCustomer(value);
        if (customer) batch.push(customer);
        if (lines >= chunkLines && !(await flush())) return { outcome: 'busy' };
      }
      if (lines > 0 && !(await flush())) return { outcome: 'busy' };
      if (malformed > 0) logger.warn({ syncId: row.id, malformed }, 'shop sync: lines of the export that are not JSON were skipped');
    }
    const [done] = await db.$queryRaw<ShopSyncRow[]>`
      UPDATE shop_syncs SET status = 'completed', finished_at = now(), claim_token = NULL, lease_until = NULL, updated_at = now()
       WHERE id = ${row.id}::uuid AND claim_token = ${claim}::uuid AND status = 'running'
      RETURNING *`;
    finished = true;
    if (!done) return { outcome: 'busy' };
    observeSyncEnd(deps.metrics, done);
    logger.info({ syncId: done.id, shopId: done.shop_id, lines: applied, created: done.contacts_created, updated: done.contacts_updated }, 'shop sync completed');
    return { outcome: 'completed' };
  } finally {
    clearTimeout(idle);
    controller.abort();
    // Leaving early (an error, a lost claim): free the claim so the retry takes over at once, not after the lease.
    if (!finished) {
      await db.$executeRaw`
        UPDATE shop_syncs SET claim_token = NULL, lease_until = NULL, updated_at = now()
         WHERE id = ${row.id}::uuid AND claim_token = ${claim}::uuid`.catch(() => undefined);
    }
  }
}

async function* withIdle(body: AsyncIterable<Uint8Array>, idle: NodeJS.Timeout): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    idle.refresh();
    yield chunk;
  }
}

/**
 * One chunk: the claim and the cursor are checked under the row's lock, the
 * customers applied and the counts and cursor moved, in one transaction.
 * False when the claim was lost (another worker took over after our lease).
 */
async function applyChunk(deps: ShopifyDeps, row: ShopSyncRow, claim: string, expectedOffset: number, lines: number, customers: SyncCustomer[]): Promise<boolean> {
  const counts = await deps.db.$transaction(async (tx) => {
    const [cur] = await tx.$queryRaw<{ lines_applied: bigint }[]>`
      SELECT lines_applied FROM shop_syncs WHERE id = ${row.id}::uuid AND claim_token = ${claim}::uuid AND status = 'running' FOR UPDATE`;
    if (!cur || Number(cur.lines_applied) !== expectedOffset) return null;
    const c: ChunkCounts = await applyCustomerChunk(tx, { shopId: row.shop_id, syncId: row.id, customers, fallbackUpdatedAt: row.created_at, phoneHashKey: deps.config.PHONE_HASH_KEY });
    await tx.$executeRaw`
      UPDATE shop_syncs
         SET lines_applied = lines_applied + ${lines}, customers_seen = customers_seen + ${c.customersSeen},
             contacts_created = contacts_created + ${c.contactsCreated}, contacts_updated = contacts_updated + ${c.contactsUpdated},
             contacts_unchanged = contacts_unchanged + ${c.contactsUnchanged}, skipped_no_phone = skipped_no_phone + ${c.skippedNoPhone},
             invalid_phone = invalid_phone + ${c.invalidPhone}, subscribed = subscribed + ${c.subscribed}, opted_out = opted_out + ${c.optedOut},
             lease_until = now() + ${SYNC_LEASE_MS} * interval '1 millisecond', updated_at = now()
       WHERE id = ${row.id}::uuid`;
    return c;
  }, { timeout: 30_000 });
  if (!counts) return false;
  observeChunk(deps.metrics, counts);
  return true;
}
