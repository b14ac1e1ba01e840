import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { deleteInChunks, type ChunkedDeletion } from '../privacy/delete-in-chunks';
import { deleteStepChunk } from '../privacy/shop-erasure-steps';
import { FLOW_DELETION_STEPS } from './flow-deletion-steps';

/** Rows per statement, as the shop erasure's (docs/flows.md, "Deleting a flow": measured far below the 5 s bound). */
export const FLOW_DELETE_CHUNK_ROWS = 2_000;
/** How long one run of the job deletes before it gives its queue slot back (the job resumes where the data says). */
export const FLOW_DELETE_SLICE_MS = 10_000;

export type FlowChunkOutcome =
  | { kind: 'rows'; step: number; table: string; deleted: number; ms: number }
  /** The flow row went, its versions with it: nothing of the flow remains. */
  | { kind: 'flow'; ms: number }
  /** No flow with that id is marked deleted (removed already, or never deleted). */
  | { kind: 'not_deleted' };

async function markedDeleted(tx: Tx, flowId: string): Promise<boolean> {
  const [row] = await tx.$queryRaw<{ ok: boolean }[]>`SELECT true AS ok FROM flows WHERE id = ${flowId}::uuid AND status = 'deleted'`;
  return row !== undefined;
}

/**
 * One chunk of a deleted flow's history, in its own transaction: up to
 * `chunkRows` rows of the first step (from `from` on) that still has any;
 * once none has, the flow row, whose cascade takes its versions and whatever
 * arrived meanwhile (a late click or attribution). Acts only on a flow marked
 * deleted (the mark is never cleared), so a stray job cannot touch a live
 * flow; every delete is keyed by its id.
 */
export async function eraseDeletedFlowChunk(db: Db, flowId: string, o: { chunkRows: number; from?: number }): Promise<FlowChunkOutcome> {
  for (let step = o.from ?? 0; step < FLOW_DELETION_STEPS.length; step++) {
    const s = FLOW_DELETION_STEPS[step]!;
    const started = performance.now();
    const deleted = await db.$transaction(async (tx) => {
      if (!(await markedDeleted(tx, flowId))) return null;
      return deleteStepChunk(tx, s, flowId, o.chunkRows);
    });
    if (deleted === null) return { kind: 'not_deleted' };
    if (deleted > 0) return { kind: 'rows', step, table: s.table, deleted, ms: performance.now() - started };
  }
  const started = performance.now();
  const gone = await db.$executeRaw`DELETE FROM flows WHERE id = ${flowId}::uuid AND status = 'deleted'`;
  return gone === 1 ? { kind: 'flow', ms: performance.now() - started } : { kind: 'not_deleted' };
}

/** As delete-in-chunks.ts counts it; yielded: the slice's time ran out, the next run goes on from what is left. */
export type EraseDeletedFlowResult = Omit<ChunkedDeletion, 'outcome'> & { outcome: 'erased' | 'yielded' | 'not_deleted' };

/** The flows.delete.v1 job's work: the flow's chunks until its row is gone or `sliceMs` has passed (delete-in-chunks.ts). */
export async function eraseDeletedFlow(
  deps: { db: Db; logger: Logger; metrics: Metrics },
  flowId: string,
  o: { chunkRows?: number; sliceMs?: number } = {},
): Promise<EraseDeletedFlowResult> {
  const chunkRows = o.chunkRows ?? FLOW_DELETE_CHUNK_ROWS;
  const run = await deleteInChunks({
    chunkRows,
    sliceMs: o.sliceMs ?? FLOW_DELETE_SLICE_MS,
    chunk: async (from) => {
      const r = await eraseDeletedFlowChunk(deps.db, flowId, { chunkRows, from });
      return r.kind === 'not_deleted' ? null : r.kind === 'flow' ? { kind: 'owner', ms: r.ms } : r;
    },
    onChunk: (c) => deps.metrics.flowDeletionChunkDuration.observe({ table: c.kind === 'owner' ? 'flows' : c.table }, c.ms / 1000),
  });
  const outcome = run.outcome === 'done' ? 'erased' : run.outcome === 'absent' ? 'not_deleted' : 'yielded';
  const result: EraseDeletedFlowResult = { ...run, outcome, rows: run.outcome === 'done' ? { ...run.rows, flows: 1 } : run.rows };
  if (outcome === 'yielded') deps.logger.info({ flowId, ...result }, 'flow deletion: slice used, resuming in the next run');
  else {
    deps.metrics.flowDeletions.inc({ outcome });
    deps.logger.info({ flowId, ...result }, outcome === 'erased' ? 'deleted flow erased' : 'flow deletion: no flow marked deleted by that id');
  }
  return result;
}
