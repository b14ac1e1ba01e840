import { enqueueWebhookJob } from '../../../domain/webhooks/enqueue-event-job';
import { useTestEnv } from '../../../test/harness';
import { waitFor } from '../../../test/sending';
import { rid } from '../../../test/webhooks';

describe('a queue worker stuck fetching its next job', () => {
  const t = useTestEnv();

  it('is replaced while Redis answers, and its queue is consumed again', async () => {
    const { host, deps } = await t.env.worker({ queues: ['webhooks'], host: { watchdog: { stuckAfterMs: 1_000, everyMs: 100 } } });
    const stuck = host.workers[0]!;
    // What a Redis Cluster failover left behind: BullMQ's wait for the next
    // job never returns (the call already under way still ends normally).
    (stuck as unknown as { waitForJob: () => Promise<number> }).waitForJob = () => new Promise<number>(() => undefined);
    await waitFor('the stuck worker replaced', () => host.workers[0] !== stuck, 20_000);
    expect(host.workers).toHaveLength(1);
    expect(host.workers[0]!.isRunning()).toBe(true);
    expect((await deps.metrics.workerFetchRestarts.get()).values).toEqual([expect.objectContaining({ labels: { queue: 'webhooks' }, value: 1 })]);
    expect(t.env.logs.text()).toMatch(/"queue":"webhooks".*queue worker stuck fetching its next job; replaced by a new one/);

    // The replacement takes the queue's jobs.
    const [row] = await t.env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_events (provider, event_id, topic, payload, status)
      VALUES ('stripe', ${rid('evt')}, 'customer.created', '{}'::jsonb, 'received') RETURNING id`;
    await enqueueWebhookJob(deps.producer, row!.id, 'trace-after-replacement');
    await waitFor('the event processed by the new worker', async () => {
      const [r] = await t.env.db.$queryRaw<{ status: string }[]>`SELECT status FROM webhook_events WHERE id = ${row!.id}::uuid`;
      return r?.status === 'ignored';
    });
  });

  it('is not touched while it merely waits on an idle queue', async () => {
    // BullMQ blocks up to 5 s per wait on an idle queue (6 s with its own watchdog); 10 s leaves room for a loaded machine.
    const { host, deps } = await t.env.worker({ queues: ['webhooks'], host: { watchdog: { stuckAfterMs: 10_000, everyMs: 250 } } });
    const first = host.workers[0]!;
    await new Promise((r) => setTimeout(r, 16_000));
    expect(host.workers[0]).toBe(first);
    expect((await deps.metrics.workerFetchRestarts.get()).values).toEqual([]);
  });
});
