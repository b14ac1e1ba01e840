import { createShop } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { counterValue, rid } from '../../test/webhooks';
import { claimEventsForDrain } from './claim-events-for-drain';
import { processStoredEvent, processWebhookEvent } from './process-event';
import { recordWebhookEvent } from './record-event';

describe('processWebhookEvent', () => {
  const t = useTestEnv();

  const row = async (id: string) =>
    (await t.env.db.$queryRaw<{ status: string; attempts: number; last_error: string | null; processed_at: Date | null }[]>`
      SELECT status, attempts, last_error, processed_at FROM webhook_events WHERE id = ${id}::uuid`)[0]!;

  it('marks an event no handler knows as ignored', async () => {
    const id = (await recordWebhookEvent(t.env.db, { provider: 'shopify', eventId: rid('wh'), topic: 'products/update', payload: { id: 1 } }))!;
    expect(await processWebhookEvent(t.deps, id, { final: false })).toBe('ignored');
    expect(await row(id)).toMatchObject({ status: 'ignored', attempts: 1, last_error: null });
    expect(await counterValue(t.deps.metrics, 'webhookEvents', { source: 'shopify', outcome: 'ignored' })).toBe(1);
  });

  it('records each failed attempt, rethrows for the retry, and closes the event as failed on the last one', async () => {
    // A customer event whose body cannot be a customer: the handler throws every time.
    const [shop] = await t.env.db.$queryRaw<{ id: string }[]>`INSERT INTO shops (domain, sender_id) VALUES (${`${rid('s').replace('_', '-')}.myshopify.com`}, 'Marketing') RETURNING id`;
    const id = (await recordWebhookEvent(t.env.db, {
      provider: 'shopify',
      eventId: rid('wh'),
      topic: 'customers/update',
      payload: { id: { nested: '+12015550123' }, email: 'leak@example.test' },
      shopId: shop!.id,
    }))!;
    await expect(processWebhookEvent(t.deps, id, { final: false })).rejects.toThrow();
    expect(await row(id)).toMatchObject({ status: 'received', attempts: 1 });
    await expect(processWebhookEvent(t.deps, id, { final: true })).rejects.toThrow();
    const final = await row(id);
    expect(final).toMatchObject({ status: 'failed', attempts: 2, processed_at: null });
    expect(final.last_error).toMatch(/^ZodError: id: /);
    expect(final.last_error!.length).toBeLessThanOrEqual(200);
    expect(final.last_error).not.toMatch(/2015550123|leak@example/);
    expect(await counterValue(t.deps.metrics, 'webhookEvents', { source: 'shopify', outcome: 'failed' })).toBe(1);
  });

  it('an event erased since it was queued is nothing to do', async () => {
    expect(await processWebhookEvent(t.deps, '00000000-0000-4000-8000-000000000000', { final: true })).toBe('missing');
  });

  it('an inbound text run inline and by a drain at the same moment takes effect once: the second run finds the event closed and rolls back', async () => {
    const sender = `1202${String(Date.now()).slice(-7)}`;
    await createShop(t.env.db, { senderId: sender });
    const m = { id: rid('in'), from: '+12025550123', to: sender, text: 'STOP', timestamp: new Date().toISOString() };
    const id = (await recordWebhookEvent(t.env.db, { provider: 'sms-simulator', eventId: `inbound:${m.id}`, topic: 'inbound', payload: m }))!;
    // A drain of the same moment claimed the row the route is processing inline.
    const claimed = (await claimEventsForDrain(t.env.db, { limit: 100, leaseMs: 60_000 })).filter((e) => e.id === id);
    expect(claimed).toHaveLength(1);
    const processedBefore = await counterValue(t.deps.metrics, 'webhookEvents', { source: 'sms-simulator', outcome: 'processed' });
    const outcomes = await Promise.all([processWebhookEvent(t.deps, id, { final: false }), processStoredEvent(t.deps, claimed[0]!, { final: false })]);
    expect(outcomes).toEqual(['processed', 'processed']);
    const [counts] = await t.env.db.$queryRaw<{ messages: number; replies: number }[]>`
      SELECT (SELECT count(*)::int FROM inbound_messages WHERE provider_message_id = ${m.id}) AS messages,
             (SELECT count(*)::int FROM keyword_replies WHERE inbound_message_id = ${m.id}) AS replies`;
    expect(counts).toEqual({ messages: 1, replies: 1 });
    expect(await row(id)).toMatchObject({ status: 'processed', attempts: 1, last_error: null });
    // Counted once.
    expect(await counterValue(t.deps.metrics, 'webhookEvents', { source: 'sms-simulator', outcome: 'processed' })).toBe(processedBefore + 1);
  });
});

