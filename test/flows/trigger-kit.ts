import type { WorkerDeps } from '../../apps/worker/src/deps';
import { dispatchOutbox } from '../../domain/outbox/outbox';
import type { Db } from '../../lib/db';
import { waitFor } from '../sending';

/** The outbox dispatcher's pass, then the flows queue until idle: every flow trigger the shop has written so far has run. */
export async function settleFlowTriggers(db: Db, worker: Pick<WorkerDeps, 'producer' | 'queues'>, shopId: string): Promise<void> {
  await waitFor('flow trigger events published', async () => {
    await dispatchOutbox(db, worker.producer);
    const [r] = await db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shopId} AND published_at IS NULL`;
    return r!.n === 0;
  });
  const queue = worker.queues.all().find((q) => q.name === 'flows')!;
  await waitFor('flows queue idle', async () => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).every((n) => n === 0);
  });
}
