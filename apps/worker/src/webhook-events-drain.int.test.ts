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

  it('applies a pass of checkout.session.expired in bulk: the same effect and marks as one by one, an unreadable one goes the per-event way', async () => {
    const [shop] = await t.env.db.$queryRaw<{ id: string }[]>`INSERT INTO shops (domain, sender_id) VALUES (${`${rid('s').replace(/_/g, '-')}.myshopify.com`}, 'Marketing') RETURNING id`;
    const sessions = Array.from({ length: 150 }, () => rid('cs'));
    // Pending purchases for most sessions; one already paid (a late payment wins); some sessions have none.
    for (const [i, sessionId] of sessions.slice(0, 120).entries()) {
      await t.env.db.$executeRaw`
        INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency, status)
        VALUES (${shop!.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd', ${i === 0 ? 'paid' : 'pending'})`;
    }
    const expired = (sessionId: string) => ({
      provider: 'stripe' as const,
      eventId: rid('evt'),
      topic: 'checkout.session.expired',
      payload: { id: rid('evt'), type: 'checkout.session.expired', data: { object: { id: sessionId, object: 'checkout.session' } } },
    });
    const ids = (await recordWebhookEvents(t.env.db, [...sessions.map(expired), { ...expired('x'), payload: { not: 'an event' } }])) as string[];
    const unreadable = ids.at(-1)!;

    expect(await drain()).toEqual({ processed: 150, handedOff: 1 });
    const after = new Map((await rows(ids)).map((r) => [r.id, r]));
    for (const id of ids.slice(0, 150)) expect(after.get(id)).toMatchObject({ status: 'processed', attempts: 1, last_error: null });
    // The unreadable one failed its per-event attempt and has its own retrying job.
    expect(after.get(unreadable)).toMatchObject({ status: 'received', attempts: 1, last_error: expect.stringContaining('ZodError') });
    expect(await t.deps.queues.get('webhooks').getJob(jobIds.webhook(unreadable))).toBeDefined();
    const statuses = await t.env.db.$queryRaw<{ status: string; n: bigint }[]>`
      SELECT status, count(*) AS n FROM purchases WHERE shop_id = ${shop!.id}::uuid GROUP BY status ORDER BY status`;
    expect(statuses.map((r) => [r.status, Number(r.n)])).toEqual([['expired', 119], ['paid', 1]]);
    // Delivered again (Stripe retries): a second pass changes nothing.
    await t.env.db.$executeRaw`UPDATE webhook_events SET status = 'received', attempts = 0, processed_at = NULL WHERE id = ANY(${ids.slice(0, 150)}::uuid[])`;
    expect(await drain()).toEqual({ processed: 150, handedOff: 0 });
    const again = await t.env.db.$queryRaw<{ status: string; n: bigint }[]>`
      SELECT status, count(*) AS n FROM purchases WHERE shop_id = ${shop!.id}::uuid GROUP BY status ORDER BY status`;
    expect(again).toEqual(statuses);
  });

  it('a bulk pass that fails commits nothing of itself, and its events go the per-event way', async () => {
    const [shop] = await t.env.db.$queryRaw<{ id: string }[]>`INSERT INTO shops (domain, sender_id) VALUES (${`${rid('s').replace(/_/g, '-')}.myshopify.com`}, 'Marketing') RETURNING id`;
    const sessions = [rid('cs'), rid('cs'), rid('cs')];
    for (const sessionId of sessions) {
      await t.env.db.$executeRaw`
        INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency) VALUES (${shop!.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    }
    const ids = (await recordWebhookEvents(
      t.env.db,
      sessions.map((sessionId) => ({
        provider: 'stripe' as const,
        eventId: rid('evt'),
        topic: 'checkout.session.expired',
        payload: { id: rid('evt'), type: 'checkout.session.expired', data: { object: { id: sessionId, object: 'checkout.session' } } },
      })),
    )) as string[];
    // Expiring one of these purchases now breaks a constraint: the bulk statement fails as a whole.
    await t.env.db.$executeRawUnsafe(`ALTER TABLE purchases ADD CONSTRAINT test_no_expiry CHECK (status <> 'expired' OR stripe_session_id <> '${sessions[1]}') NOT VALID`);
    try {
      expect(await drain()).toEqual({ processed: 2, handedOff: 1 });
    } finally {
      await t.env.db.$executeRawUnsafe('ALTER TABLE purchases DROP CONSTRAINT test_no_expiry');
    }
    const after = new Map((await rows(ids)).map((r) => [r.id, r]));
    expect(after.get(ids[0]!)).toMatchObject({ status: 'processed', attempts: 1 });
    expect(after.get(ids[1]!)).toMatchObject({ status: 'received', attempts: 1, last_error: expect.stringContaining('postgres error') });
    expect(after.get(ids[2]!)).toMatchObject({ status: 'processed', attempts: 1 });
    const statuses = await t.env.db.$queryRaw<{ stripe_session_id: string; status: string }[]>`
      SELECT stripe_session_id, status FROM purchases WHERE shop_id = ${shop!.id}::uuid`;
    expect(Object.fromEntries(statuses.map((r) => [r.stripe_session_id, r.status]))).toEqual({ [sessions[0]!]: 'expired', [sessions[1]!]: 'pending', [sessions[2]!]: 'expired' });
    expect(t.env.logs.text()).toContain('bulk webhook pass failed');
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
