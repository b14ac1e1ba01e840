import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { recordClicks } from '../../domain/links/record-clicks';
import { checkShopifyBody } from '../../domain/webhooks/shopify-payloads';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliverShopify } from '../webhooks';

// What a message earned leaves out what Shopify cancelled: a cancelled order
// (orders/cancelled) takes back the attribution it had, is never attributed
// again (a late click, orders/create delivered again or after it), and an
// order whose cancellation arrives before its orders/create is recorded once
// and attributed to nothing.

describe('a cancelled order', () => {
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

  let seq = 1;
  const orderBody = (phone: string, o: { total: string; cancelledAt?: Date | null }) => ({
    id: Date.now() * 100 + seq++,
    created_at: new Date().toISOString(),
    cancelled_at: o.cancelledAt ? o.cancelledAt.toISOString() : null,
    total_price: o.total,
    currency: 'USD',
    customer: { id: Date.now() * 100 + seq++, phone },
    phone,
    landing_site: '/sale',
    referring_site: null,
    source_name: 'web',
    discount_codes: [],
  });

  /** A sent campaign that reached the contact an hour ago: its orders are the campaign's (view, or click). */
  async function deliveredCampaign(shop: ShopFixture, contactId: string): Promise<{ campaignId: string; recipientId: number }> {
    const hourAgo = new Date(Date.now() - 3_600_000);
    const [c] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Cancel', 'Sale https://cancel.example/x', 'completed') RETURNING id`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
      VALUES (${c!.id}::uuid, ${contactId}::uuid, 0, 'delivered', ${`p-${randomUUID()}`}, 1, ${hourAgo}, ${hourAgo}) RETURNING id`;
    return { campaignId: c!.id, recipientId: Number(r!.id) };
  }

  const statsOf = async (shop: ShopFixture, campaignId: string) =>
    (await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)).body as Record<string, unknown>;

  it('no longer counts as earned once cancelled, and nothing attributes it again', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123620' });
    const { campaignId, recipientId } = await deliveredCampaign(shop, contact.id);

    const kept = orderBody(contact.phone, { total: '20.00' });
    const cancelled = orderBody(contact.phone, { total: '80.00' });
    for (const o of [kept, cancelled]) expect(await deliverShopify(app, env.db, 'orders/create', o, shop.domain)).toBe('processed');
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 2, attributedRevenue: [{ currency: 'USD', orders: 2, amount: '100.00' }] });

    // The merchant cancels the 80.00 order.
    const cancelledAt = new Date();
    expect(await deliverShopify(app, env.db, 'orders/cancelled', { ...cancelled, cancelled_at: cancelledAt.toISOString(), line_items: [{ title: 'Gift' }] }, shop.domain)).toBe('processed');
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '20.00' }] });
    // Its stored payload is cut down, and still a body of its topic (a replay does the same).
    const [stored] = await env.db.$queryRaw<{ payload: unknown }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'orders/cancelled'`;
    expect(checkShopifyBody('orders/cancelled', stored!.payload)).toMatchObject({ known: true, valid: true });
    expect(JSON.stringify(stored!.payload)).not.toContain('line_items');

    // orders/create again (other bytes), and a human click flushed late, before the order: still nothing.
    expect(await deliverShopify(app, env.db, 'orders/create', { ...cancelled, note: 'again' }, shop.domain)).toBe('processed');
    const late = await recordClicks(env.db, [
      { id: randomUUID(), campaignId, recipientId, linkIndex: 0, clickedAt: new Date(Date.parse(cancelled.created_at) - 60_000), uaClass: 'ios', bot: false },
    ]);
    expect(late.attributed).toEqual([]);
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '20.00' }] });
    const [row] = await env.db.$queryRaw<{ cancelled_at: Date | null }[]>`
      SELECT cancelled_at FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(cancelled.id)}`;
    expect(row!.cancelled_at?.toISOString()).toBe(cancelledAt.toISOString());
  });

  it('arriving cancelled before its orders/create, or created cancelled, is recorded once and earns nothing', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123621' });
    const { campaignId } = await deliveredCampaign(shop, contact.id);

    const order = orderBody(contact.phone, { total: '55.00' });
    expect(await deliverShopify(app, env.db, 'orders/cancelled', { ...order, cancelled_at: new Date().toISOString() }, shop.domain)).toBe('processed');
    expect(await deliverShopify(app, env.db, 'orders/create', order, shop.domain)).toBe('processed');
    // Shopify can also create an order that is cancelled already (its orders/cancelled may follow, or not).
    const createdCancelled = orderBody(contact.phone, { total: '10.00', cancelledAt: new Date() });
    expect(await deliverShopify(app, env.db, 'orders/create', createdCancelled, shop.domain)).toBe('processed');

    expect(await env.db.$queryRaw`SELECT order_id FROM order_attributions WHERE shop_id = ${shop.id}::uuid`).toEqual([]);
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 0, attributedRevenue: [] });
    // The customer still bought (the summary is not accounting), counted once.
    const [summary] = await env.db.$queryRaw<{ orders_seen: number; amount_seen_minor: bigint }[]>`
      SELECT orders_seen, amount_seen_minor FROM contacts WHERE id = ${contact.id}::uuid`;
    expect(summary).toEqual({ orders_seen: 2, amount_seen_minor: 6500n });
  });
});
