import type { Express } from 'express';
import { createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { tableFingerprints } from '../table-fingerprints';
import { postShopify, rid, webhookEvent } from '../webhooks';

// The attack: an orders/create body is large and mostly not ours to keep (line
// items, addresses, notes). A signed body near the 1 MiB limit — 6 000 line
// items, a 100 kB landing site, hundreds of long discount codes — must not
// become a megabyte per order in our tables (the order row, its stored
// webhook payload) nor cost work per line item. Every kept field is bounded;
// a body beyond what Shopify can send (thousands of discount codes, an id
// that is an object) is refused before anything is stored.

describe('an orders/create body with unbounded line items and fields', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env.close();
  });

  const base = (id: number) => ({
    id,
    created_at: '2026-11-20T10:00:00Z',
    total_price: '42.50',
    currency: 'usd',
    customer: { id: id + 1, phone: null },
  });

  it('is accepted, and what is stored of it is bounded field by field', async () => {
    const shop = await createShop(env.db);
    const id = Date.now();
    const body = {
      ...base(id),
      landing_site: `/?q=${'x'.repeat(100_000)}`,
      referring_site: `https://ref.example/${'y'.repeat(50_000)}`,
      source_name: 'z'.repeat(10_000),
      discount_codes: Array.from({ length: 200 }, (_, i) => ({ code: `CODE${i}-${'c'.repeat(1_000)}`, amount: '1.00' })),
      line_items: Array.from({ length: 6_000 }, (_, i) => ({ id: i, title: `Item ${i}`, quantity: 1, price: '1.00' })),
      note: 'n'.repeat(50_000),
    };
    const raw = JSON.stringify(body);
    expect(raw.length).toBeGreaterThan(700_000);
    expect(raw.length).toBeLessThan(1024 * 1024);
    const webhookId = rid('wh');
    const res = await postShopify(app, 'orders/create', raw, { shopDomain: shop.domain, webhookId });
    expect(res.status).toBe(200);
    await waitFor('processed', async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status === 'processed');

    const [order] = await env.db.$queryRaw<{ landing: number; referring: number; source: number; codes: number; longest_code: number; currency: string }[]>`
      SELECT length(landing_site) AS landing, length(referring_site) AS referring, length(source_name) AS source,
             cardinality(discount_codes) AS codes, (SELECT max(length(c)) FROM unnest(discount_codes) c) AS longest_code, currency
        FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(id)}`;
    expect(order).toEqual({ landing: 2048, referring: 2048, source: 100, codes: 20, longest_code: 255, currency: 'USD' });
    const [event] = await env.db.$queryRaw<{ bytes: number }[]>`
      SELECT length(payload::text) AS bytes FROM webhook_events WHERE provider = 'shopify' AND event_id = ${webhookId}`;
    // 2 × 2048 + 100 + 20 × 255 + the rest: a few kB, never the megabyte that came in.
    expect(event!.bytes).toBeLessThan(12_000);
  });

  it('a body no Shopify order can be is refused with 400 and nothing is stored', async () => {
    const shop = await createShop(env.db);
    const before = await tableFingerprints(env.db);
    const bodies = [
      { ...base(Date.now()), discount_codes: Array.from({ length: 5_000 }, (_, i) => ({ code: `C${i}` })) },
      { ...base(Date.now()), id: { nested: { deep: 1 } } },
      { ...base(Date.now()), total_price: '1e308' },
      { ...base(Date.now()), total_price: '-5.00' },
      { ...base(Date.now()), currency: 'dollars' },
      { ...base(Date.now()), created_at: 'x'.repeat(10_000) },
    ];
    for (const body of bodies) {
      const res = await postShopify(app, 'orders/create', body, { shopDomain: shop.domain, webhookId: rid('wh') });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect(await tableFingerprints(env.db)).toEqual(before);
  });
});
