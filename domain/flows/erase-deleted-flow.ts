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
 * Ends up to `chunkRows` of the flow's runs still in progress (a paused
 * flow's held runs, a draft's test runs): `exited/flow_deleted`, claim
 * cleared, as a STOP ends a contact's runs, so a step job still holding a
 * claim on one moves nothing. They could not go on since the mark anyway
 * (run-may-go-on-sql.ts); this makes it their state before they are deleted
 * with the rest, in chunks like the rest (a paused flow may hold a million).
 */
async function endActiveRunsChunk(tx: Tx, flowId: string, chunkRows: number): Promise<number> {
  return tx.$executeRaw`
    UPDATE flow_runs r
       SET status = 'exited', exit_reason = 'flow_deleted', next_due_at = NULL, ended_at = now(),
           claim_token = NULL, lease_until = NULL, updated_at = now()
     WHERE r.id = ANY(ARRAY(SELECT id FROM flow_runs WHERE flow_id = ${flowId}::uuid AND status = 'active' LIMIT ${chunkRows}::int FOR UPDATE))
       AND r.status = 'active'`;
}

/** The job's phases: step 0 ends the runs in progress, step k ≥ 1 deletes FLOW_DELETION_STEPS[k − 1]. */
const FLOW_PHASES = FLOW_DELETION_STEPS.length + 1;

/**
 * One chunk of a deleted flow's history, in its own transaction: up to
 * `chunkRows` rows of the first step (from `from` on) that still has any —
 * runs in progress ended first, then the history deleted; once none is
 * left, the flow row, whose cascade takes its versions and whatever
 * arrived meanwhile (a late click or attribution). Acts only on a flow marked
 * deleted (the mark is never cleared), so a stray job cannot touch a live
 * flow; every write is keyed by its id.
 */
export async function eraseDeletedFlowChunk(db: Db, flowId: string, o: { chunkRows: number; from?: number }): Promise<FlowChunkOutcome> {
  for (let step = o.from ?? 0; step < FLOW_PHASES; step++) {
    const s = step === 0 ? null : FLOW_DELETION_STEPS[step - 1]!;
    const started = performance.now();
    const done = await db.$transaction(async (tx) => {
      if (!(await markedDeleted(tx, flowId))) return null;
      return s ? deleteStepChunk(tx, s, flowId, o.chunkRows) : endActiveRunsChunk(tx, flowId, o.chunkRows);
    });
    if (done === null) return { kind: 'not_deleted' };
    if (done > 0) return { kind: 'rows', step, table: s ? s.table : 'flow_runs_ended', deleted: done, ms: performance.now() - started };
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
