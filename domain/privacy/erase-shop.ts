import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { allowConsentErasure } from '../consent/consent-source';
import { deleteInChunks, type ChunkedDeletion } from './delete-in-chunks';
import { deleteStepChunk, ERASURE_STEPS } from './shop-erasure-steps';

/**
 * Rows per statement. Each deleted contact costs a probe per foreign key
 * that references it, so a chunk of contacts is the slowest kind
 * (docs/architecture.md, "Deleting a shop": measured well below the 5 s
 * transaction bound).
 */
export const ERASE_CHUNK_ROWS = 2_000;
/** How long one run of the job erases before it gives its queue slot back (the job resumes where the data says). */
export const ERASE_SLICE_MS = 10_000;

export type ChunkOutcome =
  | { kind: 'rows'; step: number; table: string; deleted: number; ms: number }
  /** The shop row itself went: nothing of the shop remains. */
  | { kind: 'shop'; ms: number }
  /** No shop with that id awaits erasure (erased already, or never requested). */
  | { kind: 'not_requested' };

async function erasureRequested(tx: Tx, shopId: string): Promise<boolean> {
  const [row] = await tx.$queryRaw<{ ok: boolean }[]>`
    SELECT true AS ok FROM shops WHERE id = ${shopId}::uuid AND erasure_requested_at IS NOT NULL`;
  return row !== undefined;
}

/**
 * One chunk of a shop's erasure, in its own transaction: up to `chunkRows`
 * rows of the first step (from `from` on) that still has any; once none has,
 * the shop row, whose cascade then finds only what arrived meanwhile. Acts
 * only on a shop whose erasure was requested (the flag is never cleared), so
 * a stray job cannot touch a live shop; every delete is keyed by its id.
 */
export async function eraseShopChunk(db: Db, shopId: string, o: { chunkRows: number; from?: number }): Promise<ChunkOutcome> {
  for (let step = o.from ?? 0; step < ERASURE_STEPS.length; step++) {
    const s = ERASURE_STEPS[step]!;
    const started = performance.now();
    const deleted = await db.$transaction(async (tx) => {
      if (!(await erasureRequested(tx, shopId))) return null;
      if (s.consent) await allowConsentErasure(tx);
      return deleteStepChunk(tx, s, shopId, o.chunkRows);
    });
    if (deleted === null) return { kind: 'not_requested' };
    if (deleted > 0) return { kind: 'rows', step, table: s.table, deleted, ms: performance.now() - started };
  }
  const started = performance.now();
  const gone = await db.$transaction(async (tx) => {
    // Rows written since their step ran go by cascade, consent records included.
    await allowConsentErasure(tx);
    const deleted = await tx.$executeRaw`DELETE FROM shops WHERE id = ${shopId}::uuid AND erasure_requested_at IS NOT NULL`;
    if (deleted === 1) {
      // No foreign key brings these along: a repeated shop/redact (its outbox event) or a webhook stored since their step.
      await tx.$executeRaw`DELETE FROM outbox_events WHERE payload->>'shopId' = ${shopId}::text OR aggregate_id = ${shopId}::text`;
      await tx.$executeRaw`DELETE FROM webhook_events WHERE shop_id = ${shopId}::uuid`;
    }
    return deleted;
  });
  return gone === 1 ? { kind: 'shop', ms: performance.now() - started } : { kind: 'not_requested' };
}

/** As delete-in-chunks.ts counts it; yielded: the slice's time ran out, the next run goes on from what is left. */
export type EraseShopResult = Omit<ChunkedDeletion, 'outcome'> & { outcome: 'erased' | 'yielded' | 'not_requested' };

/**
 * The privacy.shop-erase.v1 job's work: the shop's chunks until its row is
 * gone or `sliceMs` has passed (delete-in-chunks.ts), a log line per table
 * once it is done rather than one per chunk.
 */
export async function eraseShop(
  deps: { db: Db; logger: Logger; metrics: Metrics },
  shopId: string,
  o: { chunkRows?: number; sliceMs?: number } = {},
): Promise<EraseShopResult> {
  const chunkRows = o.chunkRows ?? ERASE_CHUNK_ROWS;
  let current = null as { table: string; rows: number; chunks: number } | null;
  const tableDone = (): void => {
    if (current) deps.logger.info({ shopId, ...current }, 'shop erasure: table done');
    current = null;
  };
  const run = await deleteInChunks({
    chunkRows,
    sliceMs: o.sliceMs ?? ERASE_SLICE_MS,
    chunk: async (from) => {
      const r = await eraseShopChunk(deps.db, shopId, { chunkRows, from });
      return r.kind === 'not_requested' ? null : r.kind === 'shop' ? { kind: 'owner', ms: r.ms } : r;
    },
    onChunk: (c) => {
      const table = c.kind === 'owner' ? 'shops' : c.table;
      deps.metrics.shopErasureChunkDuration.observe({ table }, c.ms / 1000);
      deps.metrics.shopErasureRows.inc({ table }, c.kind === 'owner' ? 1 : c.deleted);
      if (c.kind === 'owner') return tableDone();
      if (current?.table !== c.table) {
        tableDone();
        current = { table: c.table, rows: 0, chunks: 0 };
      }
      current.rows += c.deleted;
      current.chunks++;
    },
  });
  const outcome = run.outcome === 'done' ? 'erased' : run.outcome === 'absent' ? 'not_requested' : 'yielded';
  const result: EraseShopResult = { ...run, outcome, rows: run.outcome === 'done' ? { ...run.rows, shops: 1 } : run.rows };
  if (outcome === 'yielded') deps.logger.info({ shopId, ...result }, 'shop erasure: slice used, resuming in the next run');
  else {
    deps.metrics.shopErasures.inc({ outcome });
    deps.logger.info({ shopId, ...result }, outcome === 'erased' ? 'shop erased' : 'shop erasure: no shop awaiting erasure by that id');
  }
  return result;
}
