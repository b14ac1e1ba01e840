import { useTestEnv } from '../../test/harness';
import { rid } from '../../test/webhooks';
import { recordWebhookEvent, recordWebhookEvents } from './record-event';

describe('recording webhook events', () => {
  const t = useTestEnv();

  const stored = async (eventIds: string[]) =>
    t.env.db.$queryRaw<{ event_id: string; shop_id: string | null; payload: unknown; trace_id: string | null }[]>`
      SELECT event_id, shop_id, payload, trace_id FROM webhook_events WHERE event_id = ANY(${eventIds}::text[]) ORDER BY event_id`;

  it('stores a burst of concurrent deliveries once each: every duplicate, stored or in the same burst, answers null', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `${rid('evt')}-${String(i).padStart(3, '0')}`);
    const first = await recordWebhookEvent(t.env.db, { provider: 'stripe', eventId: ids[0]!, topic: 't', payload: { n: 0 } });
    expect(first).toEqual(expect.any(String));
    // Every id twice, at once: one of each pair (and none of the first id) is new.
    const results = await Promise.all(
      [...ids, ...ids].map((eventId, i) => recordWebhookEvent(t.env.db, { provider: 'stripe', eventId, topic: 't', payload: { n: i }, traceId: `tr-${i}` })),
    );
    const newOnes = results.filter((r) => r !== null);
    expect(newOnes).toHaveLength(ids.length - 1);
    expect(new Set(newOnes).size).toBe(ids.length - 1);
    for (let i = 1; i < ids.length; i++) expect([results[i], results[i + ids.length]].filter((r) => r !== null)).toHaveLength(1);
    expect(await stored(ids)).toHaveLength(ids.length);
  });

  it('keeps each event its own fields and resolves a shop named by domain, within one statement', async () => {
    const domain = `${rid('shop').replace(/_/g, '-')}.myshopify.com`;
    const [shop] = await t.env.db.$queryRaw<{ id: string }[]>`INSERT INTO shops (domain, sender_id) VALUES (${domain}, 'Marketing') RETURNING id`;
    const [a, b, c] = [rid('a'), rid('b'), rid('c')];
    const out = await recordWebhookEvents(t.env.db, [
      { provider: 'shopify', eventId: a, topic: 'customers/update', payload: { quote: 'it\'s "x"\\y' }, shopDomain: domain, traceId: 'ta' },
      { provider: 'stripe', eventId: b, topic: 'checkout.session.completed', payload: null, shopId: shop!.id },
      { provider: 'stripe', eventId: c, topic: 't', payload: [1, { é: 'ü' }], shopId: 'not-a-uuid' },
      { provider: 'stripe', eventId: b, topic: 'checkout.session.completed', payload: null },
    ]);
    expect(out.slice(0, 3).every((r) => typeof r === 'string')).toBe(true);
    expect(out[3]).toBeNull();
    const rows = new Map((await stored([a, b, c])).map((r) => [r.event_id, r]));
    expect(rows.get(a)).toMatchObject({ shop_id: shop!.id, payload: { quote: 'it\'s "x"\\y' }, trace_id: 'ta' });
    expect(rows.get(b)).toMatchObject({ shop_id: shop!.id, payload: null });
    expect(rows.get(c)).toMatchObject({ shop_id: null, payload: [1, { é: 'ü' }] });
  });

  it('stores a signed body carrying NUL or an unpaired surrogate with U+FFFD in their place, and a delivery that cannot be stored fails alone', async () => {
    const [nul, lone, good1, good2, bad, good3] = [rid('nul'), rid('lone'), rid('g1'), rid('g2'), rid('bad'), rid('g3')];
    const submit = (eventId: string, payload: unknown) => recordWebhookEvent(t.env.db, { provider: 'shopify', eventId, topic: 'customers/update', payload });
    // Six at once: the first two go out alone, the other four share one INSERT (the batcher's two flushes are busy).
    const results = await Promise.allSettled([
      submit(rid('lead1'), { n: 1 }),
      submit(rid('lead2'), { n: 2 }),
      submit(nul, { note: 'a\u0000b', ['k\u0000']: 1 }),
      submit(lone, { name: 'x\ud800y', ok: 'é😀' }),
      submit(good1, { n: 3 }),
      // A payload that cannot even be serialised (a caller's bug): its delivery fails, not its neighbours'.
      submit(bad, { n: 10n }),
      submit(good2, { n: 4 }),
      submit(good3, { n: 5 }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(results.filter((r) => r.status === 'fulfilled').every((r) => typeof (r as PromiseFulfilledResult<string | null>).value === 'string')).toBe(true);
    const rows = new Map((await stored([nul, lone, good1, good2, good3, bad])).map((r) => [r.event_id, r.payload]));
    expect(rows.get(nul)).toEqual({ note: 'a\ufffdb', ['k\ufffd']: 1 });
    expect(rows.get(lone)).toEqual({ name: 'x\ufffdy', ok: 'é😀' });
    expect([rows.get(good1), rows.get(good2), rows.get(good3)]).toEqual([{ n: 3 }, { n: 4 }, { n: 5 }]);
    expect(rows.has(bad)).toBe(false);
  });
});

