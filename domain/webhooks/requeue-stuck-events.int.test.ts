import { jobIds } from '../../queue/job-ids';
import { useTestEnv } from '../../test/harness';
import { waitFor } from '../../test/sending';
import { rid } from '../../test/webhooks';
import { redisPassCursors } from '../reconciliation/pass-cursor';
import { enqueueWebhookJob, WEBHOOK_JOB_ATTEMPTS } from './enqueue-event-job';
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

  it('re-adds jobs for old received rows under the attempt limit only, never for failed ones, and the worker then settles them', async () => {
    const lost = await event({ status: 'received', ageSec: 120 });
    const retried = await event({ status: 'received', attempts: 9, ageSec: 120 });
    // Failed is final (its job used all its attempts): an operator replays it, reconciliation never does.
    const failed = await event({ status: 'failed', attempts: WEBHOOK_JOB_ATTEMPTS, ageSec: 120 });
    const young = await event({ status: 'received', ageSec: 0 });
    const pending = await event({ status: 'received', ageSec: 120 });
    await enqueueWebhookJob(t.deps.producer, pending, 'trace-pending');
    const processed = await event({ status: 'processed', ageSec: 120 });

    const result = await requeueStuckWebhookEvents(t.deps, { olderThanMs: 60_000, maxAttempts: WEBHOOK_JOB_ATTEMPTS });
    expect(result).toEqual({ checked: 3, requeued: 2 });
    const queue = t.deps.queues.get('webhooks');
    for (const id of [lost, retried, pending]) expect(await queue.getJob(jobIds.webhook(id))).toBeDefined();
    for (const id of [failed, young, processed]) expect(await queue.getJob(jobIds.webhook(id))).toBeUndefined();

    // A second pass from another reconciler adds nothing new.
    expect((await requeueStuckWebhookEvents(t.deps, { olderThanMs: 60_000, maxAttempts: WEBHOOK_JOB_ATTEMPTS })).requeued).toBe(0);

    const { host } = await t.env.worker({ queues: ['webhooks'] });
    try {
      await waitFor('requeued rows settled', async () => (await status(lost)) === 'ignored' && (await status(retried)) === 'ignored' && (await status(pending)) === 'ignored');
    } finally {
      // Stopped here: left running, it took the next test's drain job off the queue before that test counted it.
      await host.close();
    }
    expect(await status(failed)).toBe('failed');
    expect(await status(young)).toBe('received');
  });

  it('resumes each pass after the rows the previous one looked at, so a lost job behind `limit` live ones is re-added', async () => {
    await t.env.db.$executeRaw`UPDATE webhook_events SET status = 'processed' WHERE status = 'received'`;
    const live = [await event({ status: 'received', ageSec: 300 }), await event({ status: 'received', ageSec: 299 })];
    for (const id of live) await enqueueWebhookJob(t.deps.producer, id, 'trace-live');
    const lost = await event({ status: 'received', ageSec: 120 });
    const cursors = redisPassCursors(t.deps.redis, t.deps.queues.prefix);
    const opts = { olderThanMs: 60_000, maxAttempts: WEBHOOK_JOB_ATTEMPTS, limit: 2, cursors };

    try {
      // The oldest two, both live: nothing to do; the next pass starts after them.
      expect(await requeueStuckWebhookEvents(t.deps, opts)).toEqual({ checked: 2, requeued: 0 });
      expect(await requeueStuckWebhookEvents(t.deps, opts)).toMatchObject({ requeued: 1 });
      expect(await t.deps.queues.get('webhooks').getJob(jobIds.webhook(lost))).toBeDefined();
    } finally {
      await t.deps.queues.get('webhooks').obliterate({ force: true });
      await t.env.db.$executeRaw`UPDATE webhook_events SET status = 'processed' WHERE id = ANY(${[...live, lost]}::uuid[])`;
    }
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

    const result = await requeueStuckWebhookEvents(t.deps, { olderThanMs: 60_000, maxAttempts: WEBHOOK_JOB_ATTEMPTS });
    expect(result).toEqual({ checked: 1, requeued: 2 });
    const queue = t.deps.queues.get('webhooks');
    for (const id of drained) expect(await queue.getJob(jobIds.webhook(id))).toBeUndefined();
    expect(await queue.getJob(jobIds.webhook(handedOff))).toBeDefined();
    const drains = (await queue.getJobs(['delayed', 'waiting'])).filter((j) => j.name === 'webhook.delivery-reports.v1');
    expect(drains).toHaveLength(1);
  });
});

