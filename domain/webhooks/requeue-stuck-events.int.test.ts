import { jobIds } from '../../queue/job-ids';
import { useTestEnv } from '../../test/harness';
import { waitFor } from '../../test/sending';
import { rid } from '../../test/webhooks';
import { enqueueWebhookJob } from './enqueue-event-job';
import { requeueStuckWebhookEvents } from './requeue-stuck-events';

describe('requeueStuckWebhookEvents', () => {
  const t = useTestEnv();

  async function event(o: { status: string; attempts?: number; ageSec: number }): Promise<string> {
    const [row] = await t.env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, received_at)
      VALUES ('stripe', ${rid('evt')}, 'customer.created', '{}'::jsonb, ${o.status}, ${o.attempts ?? 0}::int, now() - ${o.ageSec}::int * interval '1 second')
      RETURNING id`;
    return row!.id;
  }

  const status = async (id: string): Promise<string> =>
    (await t.env.db.$queryRaw<{ status: string }[]>`SELECT status FROM webhook_events WHERE id = ${id}::uuid`)[0]!.status;

  it('re-adds jobs for old received and retryable failed rows only, and the worker then settles them', async () => {
    const lost = await event({ status: 'received', ageSec: 120 });
    const failed = await event({ status: 'failed', attempts: 3, ageSec: 120 });
    const exhausted = await event({ status: 'failed', attempts: 10, ageSec: 120 });
    const young = await event({ status: 'received', ageSec: 0 });
    const pending = await event({ status: 'received', ageSec: 120 });
    await enqueueWebhookJob(t.deps.producer, pending, 'trace-pending');
    const processed = await event({ status: 'processed', ageSec: 120 });

    const result = await requeueStuckWebhookEvents(t.deps, { olderThanMs: 60_000, maxAttempts: 10 });
    expect(result).toEqual({ checked: 3, requeued: 2 });
    const queue = t.deps.queues.get('webhooks');
    for (const id of [lost, failed, pending]) expect(await queue.getJob(jobIds.webhook(id))).toBeDefined();
    for (const id of [exhausted, young, processed]) expect(await queue.getJob(jobIds.webhook(id))).toBeUndefined();
    expect(await status(failed)).toBe('received');

    // A second pass from another reconciler adds nothing new.
    expect((await requeueStuckWebhookEvents(t.deps, { olderThanMs: 60_000, maxAttempts: 10 })).requeued).toBe(0);

    await t.env.worker({ queues: ['webhooks'] });
    await waitFor('requeued rows settled', async () => (await status(lost)) === 'ignored' && (await status(failed)) === 'ignored' && (await status(pending)) === 'ignored');
    expect(await status(exhausted)).toBe('failed');
    expect(await status(young)).toBe('received');
  });

  it('gives stuck delivery reports one drain job for all of them, and a handed-off one its own job', async () => {
    const report = async (lastError: string | null): Promise<string> => {
      const [row] = await t.env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO webhook_events (provider, event_id, topic, payload, status, last_error, received_at)
        VALUES ('sms-simulator', ${rid('dlr')}, 'status', '{}'::jsonb, 'received', ${lastError}, now() - interval '120 seconds')
        RETURNING id`;
      return row!.id;
    };
    const drained = [await report(null), await report(null), await report(null)];
    const handedOff = await report('bulk apply failed: test');

    const result = await requeueStuckWebhookEvents(t.deps, { olderThanMs: 60_000, maxAttempts: 10 });
    expect(result).toEqual({ checked: 1, requeued: 2 });
    const queue = t.deps.queues.get('webhooks');
    for (const id of drained) expect(await queue.getJob(jobIds.webhook(id))).toBeUndefined();
    expect(await queue.getJob(jobIds.webhook(handedOff))).toBeDefined();
    const drains = (await queue.getJobs(['delayed', 'waiting'])).filter((j) => j.name === 'webhook.delivery-reports.v1');
    expect(drains).toHaveLength(1);
  });
});

