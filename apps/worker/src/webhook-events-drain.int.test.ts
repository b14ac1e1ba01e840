import type { Job } from 'bullmq';
import { jobIds } from '../../../queue/job-ids';
import { recordWebhookEvents } from '../../../domain/webhooks/record-event';
import { useTestEnv } from '../../../test/harness';
import { rid } from '../../../test/webhooks';
import { webhookEventsHandler } from './processors/webhook-events.processor';

describe('webhook.events.v1: the slot drain of stored events', () => {
  const t = useTestEnv();

  const drain = () => webhookEventsHandler.process({ traceId: 'wh-test' }, { deps: t.deps, job: {} as Job }) as Promise<{ processed: number; handedOff: number }>;
  const rows = async (ids: string[]) =>
    t.env.db.$queryRaw<{ id: string; status: string; attempts: number; last_error: string | null }[]>`
      SELECT id, status, attempts, last_error FROM webhook_events WHERE id = ANY(${ids}::uuid[])`;
  const stripe = (n: number) => Array.from({ length: n }, () => ({ provider: 'stripe' as const, eventId: rid('evt'), topic: 'customer.created', payload: {} }));

  it('processes every never-tried event once, hands a failing one to a job of its own, and leaves delivery reports and retried rows alone', async () => {
    const [shop] = await t.env.db.$queryRaw<{ id: string }[]>`INSERT INTO shops (domain, sender_id) VALUES (${`${rid('s').replace(/_/g, '-')}.myshopify.com`}, 'Marketing') RETURNING id`;
    const ok = (await recordWebhookEvents(t.env.db, stripe(230))) as string[];
    const [bad, dlr, retried] = (await recordWebhookEvents(t.env.db, [
      // A customer event whose body cannot be a customer: its handler throws.
      { provider: 'shopify', eventId: rid('wh'), topic: 'customers/update', payload: { id: { nested: 1 } }, shopId: shop!.id },
      { provider: 'sms-simulator', eventId: rid('dlr'), topic: 'status', payload: { id: 'x', status: 'delivered' } },
      { provider: 'stripe', eventId: rid('evt'), topic: 'customer.created', payload: {} },
    ])) as string[];
    await t.env.db.$executeRaw`UPDATE webhook_events SET attempts = 1, last_error = 'earlier failure' WHERE id = ${retried}::uuid`;

    expect(await drain()).toEqual({ processed: 230, handedOff: 1 });
    const after = new Map((await rows([...ok, bad!, dlr!, retried!])).map((r) => [r.id, r]));
    for (const id of ok) expect(after.get(id)).toMatchObject({ status: 'ignored', attempts: 1 });
    expect(after.get(bad!)).toMatchObject({ status: 'received', attempts: 1, last_error: expect.any(String) });
    expect(await t.deps.queues.get('webhooks').getJob(jobIds.webhook(bad!))).toBeDefined();
    expect(after.get(dlr!)).toMatchObject({ status: 'received', attempts: 0 });
    expect(after.get(retried!)).toMatchObject({ status: 'received', attempts: 1 });
    // Nothing left for a second drain.
    expect(await drain()).toEqual({ processed: 0, handedOff: 0 });
  });

  it('concurrent drains split the work: each event is processed exactly once', async () => {
    const ids = (await recordWebhookEvents(t.env.db, stripe(400))) as string[];
    const results = await Promise.all([drain(), drain(), drain()]);
    expect(results.reduce((n, r) => n + r.processed, 0)).toBe(400);
    expect((await rows(ids)).every((r) => r.status === 'ignored' && r.attempts === 1)).toBe(true);
  });

  it('leaves a row claimed by a live drain alone, and takes it once that lease has run out', async () => {
    const [id] = (await recordWebhookEvents(t.env.db, stripe(1))) as string[];
    await t.env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = now() + interval '1 minute' WHERE id = ${id}::uuid`;
    expect(await drain()).toEqual({ processed: 0, handedOff: 0 });
    await t.env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = now() - interval '1 second' WHERE id = ${id}::uuid`;
    expect(await drain()).toEqual({ processed: 1, handedOff: 0 });
    expect(await rows([id!])).toEqual([expect.objectContaining({ status: 'ignored', attempts: 1 })]);
  });
});
