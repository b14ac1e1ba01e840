import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { recordClicks } from '../../domain/links/record-clicks';
import { checkShopifyBody } from '../../domain/webhooks/shopify-payloads';
import { createContact, createShop, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliverShopify } from '../webhooks';
import { settleFlowTriggers } from '../flows/trigger-kit';

// An order Shopify placed through a test gateway (`"test": true`: the Bogus
// gateway, or a provider in test mode) is the merchant trying the checkout.
// It is stored, harmlessly, but earns no campaign or flow anything (its own
// attribution, a late click), moves no contact's order summary, and starts no
// post-purchase flow (orders/create, or the late link of its customer's
// contact); a real order beside it still does all of that.

describe('a Shopify test order', () => {
  let env: TestEnv;
  let app: Express;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks', 'flows'] }));
  });
  afterAll(async () => {
    await env.close();
  });

  let seq = 1;
  const newId = (): number => Date.now() * 100 + seq++;
  const orderBody = (o: { total: string; test?: boolean; phone?: string | null; customerId?: number }) => ({
    id: newId(),
    created_at: new Date().toISOString(),
    total_price: o.total,
    currency: 'USD',
    ...(o.test === undefined ? {} : { test: o.test }),
    customer: { id: o.customerId ?? newId(), phone: o.phone ?? null },
    phone: o.phone ?? null,
    landing_site: '/sale',
    referring_site: null,
    source_name: 'web',
    discount_codes: [],
    gateway: o.test ? 'bogus' : 'shopify_payments',
    line_items: [{ title: 'Gift' }],
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;

  /** A sent campaign that reached the contact an hour ago: its orders are the campaign's (view, or click). */
  async function deliveredCampaign(shop: ShopFixture, contactId: string): Promise<{ campaignId: string; recipientId: number }> {
    const hourAgo = new Date(Date.now() - 3_600_000);
    const [c] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Test gateway', 'Sale https://test-order.example/x', 'completed') RETURNING id`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
      VALUES (${c!.id}::uuid, ${contactId}::uuid, 0, 'delivered', ${`p-${randomUUID()}`}, 1, ${hourAgo}, ${hourAgo}) RETURNING id`;
    return { campaignId: c!.id, recipientId: Number(r!.id) };
  }

  const statsOf = async (shop: ShopFixture, campaignId: string) =>
    (await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', await auth(shop))).body as Record<string, unknown>;

  const summaryOf = async (contactId: string) => {
    const [c] = await env.db.$queryRaw<{ orders_seen: number; amount_seen_minor: bigint; orders_uncounted: number; last_order_at: Date | null }[]>`
      SELECT orders_seen, amount_seen_minor, orders_uncounted, last_order_at FROM contacts WHERE id = ${contactId}::uuid`;
    return c!;
  };

  async function postPurchaseFlow(shop: ShopFixture): Promise<string> {
    const post = async (path: string, body: object = {}) =>
      request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body);
    const created = await post('/api/flows', { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks for your order!' }] });
    expect(created.status).toBe(201);
    expect((await post(`/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return created.body.id as string;
  }

  const settleTriggers = (shopId: string): Promise<void> => settleFlowTriggers(env.db, worker, shopId);

  const runSubjects = async (flowId: string) =>
    (await env.db.$queryRaw<{ trigger_subject: string }[]>`SELECT trigger_subject FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY id`).map((r) => r.trigger_subject);

  it('earns nothing, moves no summary and starts no post-purchase flow; a real order still does all three', async () => {
    const shop = await createShop(env.db);
    const flowId = await postPurchaseFlow(shop);
    const contact = await createContact(env.db, shop.id, { phone: testPhone() });
    const { campaignId, recipientId } = await deliveredCampaign(shop, contact.id);
    const before = await summaryOf(contact.id);

    const test = orderBody({ total: '80.00', test: true, phone: contact.phone });
    expect(await deliverShopify(app, env.db, 'orders/create', test, shop.domain)).toBe('processed');
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 0, attributedRevenue: [] });
    expect(await env.db.$queryRaw`SELECT order_id FROM order_attributions WHERE shop_id = ${shop.id}::uuid`).toEqual([]);
    expect(await summaryOf(contact.id)).toEqual(before);
    // Stored, flagged, linked to its contact (redaction and exports find it).
    const [row] = await env.db.$queryRaw<{ test: boolean; contact_id: string | null }[]>`
      SELECT test, contact_id FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(test.id)}`;
    expect(row).toEqual({ test: true, contact_id: contact.id });
    // Its stored payload is cut down and still says test (a replay stores it as one again).
    const [stored] = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'orders/create'`;
    expect(stored!.payload).toMatchObject({ id: String(test.id), test: true });
    expect(JSON.stringify(stored!.payload)).not.toContain('line_items');
    expect(checkShopifyBody('orders/create', stored!.payload)).toMatchObject({ known: true, valid: true });

    // A human click flushed late, before the test order: still nothing.
    const late = await recordClicks(env.db, [
      { id: randomUUID(), campaignId, recipientId, linkIndex: 0, clickedAt: new Date(Date.parse(test.created_at) - 60_000), uaClass: 'ios', bot: false },
    ]);
    expect(late.attributed).toEqual([]);
    await settleTriggers(shop.id);
    expect(await runSubjects(flowId)).toEqual([]);

    // A real order (no `test`, and one with `test: false`): earned, counted, and the flow starts for each.
    const real = orderBody({ total: '20.00', phone: contact.phone });
    const realFalse = orderBody({ total: '5.00', test: false, phone: contact.phone });
    for (const o of [real, realFalse]) expect(await deliverShopify(app, env.db, 'orders/create', o, shop.domain)).toBe('processed');
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 2, attributedRevenue: [{ currency: 'USD', orders: 2, amount: '25.00' }] });
    expect(await summaryOf(contact.id)).toMatchObject({ orders_seen: before.orders_seen + 2, amount_seen_minor: before.amount_seen_minor + 2500n });
    await settleTriggers(shop.id);
    expect((await runSubjects(flowId)).sort()).toEqual([String(real.id), String(realFalse.id)].sort());
  });

  it('cancelled, or linked late to a contact that subscribes, still earns nothing and starts no flow', async () => {
    const shop = await createShop(env.db);
    const flowId = await postPurchaseFlow(shop);
    const customerId = newId();
    const phone = testPhone();
    // Orders of a customer whose contact does not exist yet: linked when customers/create comes.
    const test = orderBody({ total: '80.00', test: true, customerId });
    const real = orderBody({ total: '20.00', customerId });
    for (const o of [test, real]) expect(await deliverShopify(app, env.db, 'orders/create', o, shop.domain)).toBe('processed');
    // Shopify's cancellation of the test order (the merchant tidying up): harmless.
    expect(await deliverShopify(app, env.db, 'orders/cancelled', { ...test, cancelled_at: new Date().toISOString() }, shop.domain)).toBe('processed');
    const at = new Date().toISOString();
    const customer = { id: customerId, phone, email: null, first_name: 'Ada', last_name: 'Lovelace', updated_at: at, sms_marketing_consent: { state: 'subscribed', opt_in_level: 'single_opt_in', consent_updated_at: at } };
    expect(await deliverShopify(app, env.db, 'customers/create', customer, shop.domain)).toBe('processed');
    await settleTriggers(shop.id);
    expect(await runSubjects(flowId)).toEqual([String(real.id)]);
    // Not even queued: the late link (queue_recent_order_flow_triggers) leaves the test order out.
    const queued = await env.db.$queryRaw<{ order_id: string }[]>`
      SELECT DISTINCT payload->>'orderId' AS order_id FROM outbox_events
       WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shop.id} AND payload->>'kind' = 'order_created'`;
    expect(queued.map((q) => q.order_id)).toEqual([String(real.id)]);

    const [contact] = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND shopify_customer_id = ${String(customerId)}`;
    const { campaignId, recipientId } = await deliveredCampaign(shop, contact!.id);
    const late = await recordClicks(env.db, [
      { id: randomUUID(), campaignId, recipientId, linkIndex: 0, clickedAt: new Date(Date.parse(test.created_at) - 60_000), uaClass: 'ios', bot: false },
    ]);
    // The click, before both orders, attributes the real one only.
    expect(late.attributed).toEqual([{ kind: 'click', campaignId, flowId: null, totalMinor: 2000n, refundedMinor: 0n, currency: 'USD' }]);
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '20.00' }] });
  });
});
