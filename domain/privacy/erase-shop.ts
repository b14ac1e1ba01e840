import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { allowConsentErasure } from '../consent/consent-source';
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

export interface EraseShopResult {
  /** yielded: the slice's time ran out; the next run goes on from what is left. */
  outcome: 'erased' | 'yielded' | 'not_requested';
  chunks: number;
  rows: Record<string, number>;
  longestChunkMs: number;
  durationMs: number;
}

/**
 * The privacy.shop-erase.v1 job's work: chunks until the shop row is gone or
 * `sliceMs` has passed. Every chunk deletes rows or moves to the next step,
 * so a run always progresses and ends. Resumable by construction: what is
 * left to delete is the state, so a run killed anywhere (each chunk commits
 * alone) is simply run again.
 */
export async function eraseShop(
  deps: { db: Db; logger: Logger; metrics: Metrics },
  shopId: string,
  o: { chunkRows?: number; sliceMs?: number } = {},
): Promise<EraseShopResult> {
  const chunkRows = o.chunkRows ?? ERASE_CHUNK_ROWS;
  const sliceMs = o.sliceMs ?? ERASE_SLICE_MS;
  const started = performance.now();
  const rows: Record<string, number> = {};
  let chunks = 0;
  let longestChunkMs = 0;
  let from = 0;
  // The table being erased, logged once it is done (a line per table, not per chunk).
  let current = null as { table: string; rows: number; chunks: number } | null;
  const tableDone = (): void => {
    if (current) deps.logger.info({ shopId, ...current }, 'shop erasure: table done');
    current = null;
  };
  const result = (outcome: EraseShopResult['outcome']): EraseShopResult => ({
    outcome,
    chunks,
    rows,
    longestChunkMs: Math.round(longestChunkMs),
    durationMs: Math.round(performance.now() - started),
  });

  for (;;) {
    // Checked after a chunk, never before the first: every run progresses, however short its slice.
    if (chunks > 0 && performance.now() - started >= sliceMs) {
      deps.logger.info({ shopId, ...result('yielded') }, 'shop erasure: slice used, resuming in the next run');
      return result('yielded');
    }
    const r = await eraseShopChunk(deps.db, shopId, { chunkRows, from });
    if (r.kind === 'not_requested') {
      deps.metrics.shopErasures.inc({ outcome: 'not_requested' });
      deps.logger.info({ shopId, ...result('not_requested') }, 'shop erasure: no shop awaiting erasure by that id');
      return result('not_requested');
    }
    chunks++;
    longestChunkMs = Math.max(longestChunkMs, r.ms);
    if (r.kind === 'shop') {
      tableDone();
      deps.metrics.shopErasureChunkDuration.observe({ table: 'shops' }, r.ms / 1000);
      deps.metrics.shopErasureRows.inc({ table: 'shops' });
      deps.metrics.shopErasures.inc({ outcome: 'erased' });
      rows.shops = 1;
      deps.logger.info({ shopId, ...result('erased') }, 'shop erased');
      return result('erased');
    }
    deps.metrics.shopErasureChunkDuration.observe({ table: r.table }, r.ms / 1000);
    deps.metrics.shopErasureRows.inc({ table: r.table }, r.deleted);
    rows[r.table] = (rows[r.table] ?? 0) + r.deleted;
    if (current?.table !== r.table) {
      tableDone();
      current = { table: r.table, rows: 0, chunks: 0 };
    }
    current.rows += r.deleted;
    current.chunks++;
    // A short chunk took the table's last rows; a full one may have too, and the next call then moves on by itself.
    from = r.deleted < chunkRows ? r.step + 1 : r.step;
  }
}
