/** Rows of one step's table, deleted in one short transaction. */
export type RowsChunk = { kind: 'rows'; step: number; table: string; deleted: number; ms: number };

/** What one chunk did: rows of a step, the owner row last (nothing of it remains), or nothing, as there is no such owner to delete. */
export type DeletionChunk = RowsChunk | { kind: 'owner'; ms: number } | null;

export interface ChunkedDeletion {
  /** done: the owner row is gone; yielded: the slice's time ran out; absent: nothing to delete by that id. */
  outcome: 'done' | 'yielded' | 'absent';
  chunks: number;
  /** Rows deleted per table by this run. */
  rows: Record<string, number>;
  longestChunkMs: number;
  durationMs: number;
}

/**
 * The loop of a deletion too big for one transaction (a shop's erasure, a
 * deleted flow's history): chunks until the owner row is gone or `sliceMs`
 * has passed, each from the step the previous one reached. Every chunk
 * deletes rows or moves to the next step, so a run always progresses and
 * ends. Resumable by construction: what is left to delete is the state, so a
 * run killed anywhere (each chunk commits alone) is simply run again.
 * `onChunk` sees every chunk that did something (metrics, logs).
 */
export async function deleteInChunks(o: {
  chunkRows: number;
  sliceMs: number;
  chunk: (from: number) => Promise<DeletionChunk>;
  onChunk?: (c: Exclude<DeletionChunk, null>) => void;
}): Promise<ChunkedDeletion> {
  const started = performance.now();
  const rows: Record<string, number> = {};
  let chunks = 0;
  let longestChunkMs = 0;
  let from = 0;
  const result = (outcome: ChunkedDeletion['outcome']): ChunkedDeletion => ({
    outcome,
    chunks,
    rows,
    longestChunkMs: Math.round(longestChunkMs),
    durationMs: Math.round(performance.now() - started),
  });
  for (;;) {
    // Checked after a chunk, never before the first: every run progresses, however short its slice.
    if (chunks > 0 && performance.now() - started >= o.sliceMs) return result('yielded');
    const c = await o.chunk(from);
    if (c === null) return result('absent');
    chunks++;
    longestChunkMs = Math.max(longestChunkMs, c.ms);
    o.onChunk?.(c);
    if (c.kind === 'owner') return result('done');
    rows[c.table] = (rows[c.table] ?? 0) + c.deleted;
    // A short chunk took the table's last rows; a full one may have too, and the next call then moves on by itself.
    from = c.deleted < o.chunkRows ? c.step + 1 : c.step;
  }
}
