import type { Express } from 'express';
import request from 'supertest';
import { createCampaign, createContact, createShop, testPhone } from '../../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { disableQuietHours, waitFor } from '../../../../test/sending';
import { launchCampaign } from '../../../../domain/campaigns/launch-campaign';
import { previewCampaign } from '../../../../domain/campaigns/preview-campaign';
import { sessionToken } from '../../../../test/session-token';
import { postShopify, rid, webhookEvent } from '../../../../test/webhooks';

// orders/create and checkouts/create|update end to end: signed delivery,
// the inbox, the worker's handler, what is stored.

describe('Shopify orders and checkouts', () => {
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

  async function deliver(topic: string, body: Record<string, unknown>, shopDomain: string, webhookId = rid('wh')): Promise<{ http: unknown; status: string }> {
    const res = await postShopify(app, topic, body, { shopDomain, webhookId });
    expect(res.status).toBe(200);
    let status = '';
    await waitFor(`${topic} settled`, async () => {
      status = (await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone';
      return status !== 'received';
    });
    return { http: res.body, status };
  }

  let seq = 1;
  const shopifyId = (): number => Date.now() * 1000 + seq++;

  function order(o: { id?: number; customerId?: number | null; phone?: string | null; total?: string; currency?: string; createdAt?: string; extra?: Record<string, unknown> } = {}) {
    return {
      id: o.id ?? shopifyId(),
      order_number: 1001,
      email: 'buyer@example.test',
      created_at: o.createdAt ?? '2026-11-20T10:00:00-05:00',
      total_price: o.total ?? '42.50',
      currency: o.currency ?? 'USD',
      customer: o.customerId === null ? null : { id: o.customerId ?? shopifyId(), email: 'buyer@example.test', phone: o.phone ?? null },
      landing_site: '/products/tee?utm_source=sms&utm_campaign=black-friday',
      referring_site: 'https://sms.example/l/abc',
      source_name: 'web',
      discount_codes: [{ code: 'BF20', amount: '8.50', type: 'percentage' }],
      line_items: [{ id: 1, title: 'Tee', quantity: 1, price: '42.50' }],
      billing_address: { address1: '1 Main St', phone: '+12015550100' },
      ...o.extra,
    };
  }

  async function summary(contactId: string) {
    const [row] = await env.db.$queryRaw<{ orders_count: number; amount_spent_minor: bigint; amount_spent_currency: string | null; last_order_at: Date | null }[]>`
      SELECT orders_count, amount_spent_minor, amount_spent_currency, last_order_at FROM contacts WHERE id = ${contactId}::uuid`;
    return row!;
  }

  async function linkCustomer(contactId: string, customerId: number): Promise<void> {
    await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(customerId)} WHERE id = ${contactId}::uuid`;
  }

  const checkout = (token: string, o: { updatedAt: string; url?: string; completedAt?: string | null; phone?: string | null; customerId?: number }) => ({
    id: shopifyId(),
    token,
    cart_token: 'cart',
    email: 'buyer@example.test',
    created_at: '2026-11-20T10:00:00Z',
    updated_at: o.updatedAt,
    completed_at: o.completedAt ?? null,
    abandoned_checkout_url: o.url ?? `https://shop.example/checkouts/${token}/recover?key=k1`,
    phone: o.phone ?? null,
    customer: o.customerId ? { id: o.customerId, phone: null } : null,
    line_items: [{ title: 'Tee', quantity: 1 }],
    total_price: '42.50',
    currency: 'USD',
  });

  describe('orders/create', () => {
    it('stores the order and moves the summary once: a replay, a resent body and a second delivery of the same order id change nothing', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const customerId = shopifyId();
      await linkCustomer(contact.id, customerId);
      const body = order({ customerId });

      const webhookId = rid('wh');
      expect(await deliver('orders/create', body, shop.domain, webhookId)).toEqual({ http: { received: true }, status: 'processed' });
      expect(await summary(contact.id)).toEqual({ orders_count: 1, amount_spent_minor: 4250n, amount_spent_currency: 'USD', last_order_at: new Date('2026-11-20T15:00:00Z') });

      // Same webhook id: the inbox's duplicate. Same body, new webhook id: the body digest's duplicate.
      expect((await postShopify(app, 'orders/create', body, { shopDomain: shop.domain, webhookId })).body).toEqual({ duplicate: true });
      expect((await postShopify(app, 'orders/create', body, { shopDomain: shop.domain, webhookId: rid('wh') })).body).toEqual({ duplicate: true });
      // A different delivery of the same order (Shopify resends with changed fields): stored as an event, applied as nothing.
      const again = await deliver('orders/create', { ...body, total_price: '99.00', note: 'resent' }, shop.domain);
      expect(again).toEqual({ http: { received: true }, status: 'processed' });
      expect(await summary(contact.id)).toMatchObject({ orders_count: 1, amount_spent_minor: 4250n });

      const orders = await env.db.$queryRaw<Record<string, unknown>[]>`
        SELECT order_id, customer_id, contact_id, total_minor, currency, ordered_at, landing_site, referring_site, source_name, discount_codes
          FROM shopify_orders WHERE shop_id = ${shop.id}::uuid`;
      expect(orders).toEqual([
        {
          order_id: String(body.id),
          customer_id: String(customerId),
          contact_id: contact.id,
          total_minor: 4250n,
          currency: 'USD',
          ordered_at: new Date('2026-11-20T15:00:00Z'),
          landing_site: '/products/tee?utm_source=sms&utm_campaign=black-friday',
          referring_site: 'https://sms.example/l/abc',
          source_name: 'web',
          discount_codes: ['BF20'],
        },
      ]);

      // A second, different order adds up; the newest order time is kept whatever the arrival order.
      await deliver('orders/create', order({ customerId, total: '10', createdAt: '2026-11-01T00:00:00Z' }), shop.domain);
      expect(await summary(contact.id)).toEqual({ orders_count: 2, amount_spent_minor: 5250n, amount_spent_currency: 'USD', last_order_at: new Date('2026-11-20T15:00:00Z') });
    });

    it('finds the contact by phone when no contact has the customer id, links none when nobody matches, never creates one', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const national = contact.phone.replace(/^\+1(\d{3})(\d{3})(\d{4})$/, '+1 ($1) $2-$3');
      await deliver('orders/create', order({ phone: national, total: '1500', currency: 'JPY' }), shop.domain);
      expect(await summary(contact.id)).toMatchObject({ orders_count: 1, amount_spent_minor: 1500n, amount_spent_currency: 'JPY' });

      const stranger = order({ phone: testPhone() });
      await deliver('orders/create', stranger, shop.domain);
      const [row] = await env.db.$queryRaw<{ contact_id: string | null }[]>`SELECT contact_id FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(stranger.id)}`;
      expect(row).toEqual({ contact_id: null });
      const [n] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contacts WHERE shop_id = ${shop.id}::uuid`;
      expect(n!.n).toBe(1n);
    });

    it("Shopify's customer figures and the orders seen are two sources: the larger wins, whatever the arrival order, and nothing double counts", async () => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      const customerId = shopifyId();
      const customer = (count: number, spent: string, at: string) => ({ id: customerId, phone, updated_at: at, orders_count: count, total_spent: spent, currency: 'USD' });
      await deliver('customers/create', customer(3, '120.00', '2026-11-01T00:00:00Z'), shop.domain);
      const [c] = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND shopify_customer_id = ${String(customerId)}`;
      expect(await summary(c!.id)).toMatchObject({ orders_count: 3, amount_spent_minor: 12000n });

      // The customer's 4th order arrives before Shopify's updated customer record.
      await deliver('orders/create', order({ customerId, total: '30.00' }), shop.domain);
      expect(await summary(c!.id)).toMatchObject({ orders_count: 3, amount_spent_minor: 12000n });
      await deliver('customers/update', customer(4, '150.00', '2026-11-21T00:00:00Z'), shop.domain);
      expect(await summary(c!.id)).toMatchObject({ orders_count: 4, amount_spent_minor: 15000n });
      // A stale customer record never lowers it.
      await deliver('customers/update', customer(1, '10.00', '2026-11-22T00:00:00Z'), shop.domain);
      expect(await summary(c!.id)).toMatchObject({ orders_count: 4, amount_spent_minor: 15000n });
    });

    it('keeps only the record of the order in the inbox: addresses (but for the number the link reads), emails and line items are dropped from the stored payload', async () => {
      const shop = await createShop(env.db);
      const webhookId = rid('wh');
      // No number of the order's or the customer's own: the billing address's is the buyer's (domain/orders/buyer-phones.ts).
      await deliver('orders/create', order(), shop.domain, webhookId);
      const [row] = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`SELECT payload FROM webhook_events WHERE provider = 'shopify' AND event_id = ${webhookId}`;
      expect(Object.keys(row!.payload).sort()).toEqual(['billing_address', 'created_at', 'currency', 'customer', 'discount_codes', 'id', 'landing_site', 'phone', 'referring_site', 'source_name', 'total_price']);
      expect(row!.payload.billing_address).toEqual({ phone: '+12015550100' });
      expect(JSON.stringify(row!.payload)).not.toMatch(/buyer@example|Main St|line_items/);
      // With a number of its own, no address is kept at all.
      const ownId = rid('wh');
      await deliver('orders/create', order({ phone: '+12015550101' }), shop.domain, ownId);
      const [own] = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`SELECT payload FROM webhook_events WHERE provider = 'shopify' AND event_id = ${ownId}`;
      expect(Object.keys(own!.payload)).not.toContain('billing_address');
      expect(own!.payload.customer).toMatchObject({ phone: '+12015550101' });
    });

    it('refuses a checkout body or a customer body as an order, and an order body as a customer (400, nothing stored)', async () => {
      const shop = await createShop(env.db);
      const asOrder = await postShopify(app, 'orders/create', { ...order(), abandoned_checkout_url: 'https://shop.example/recover' }, { shopDomain: shop.domain });
      expect(asOrder.status).toBe(400);
      const customerAsOrder = await postShopify(app, 'orders/create', { id: shopifyId(), phone: testPhone(), updated_at: '2026-11-01T00:00:00Z' }, { shopDomain: shop.domain });
      expect(customerAsOrder.status).toBe(400);
      const orderAsCustomer = await postShopify(app, 'customers/update', order(), { shopDomain: shop.domain });
      expect(orderAsCustomer.status).toBe(400);
      const orderAsCheckout = await postShopify(app, 'checkouts/update', { ...order(), token: 'abc123', updated_at: '2026-11-01T00:00:00Z' }, { shopDomain: shop.domain });
      expect(orderAsCheckout.status).toBe(400);
    });
  });

  it('an audience filtered on the summary selects exactly the buyers at launch, as its preview said', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    const [buyer, bigBuyer, browser] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    await deliver('orders/create', order({ phone: buyer.phone, total: '20.00', createdAt: '2026-11-10T00:00:00Z' }), shop.domain);
    await deliver('orders/create', order({ phone: bigBuyer.phone, total: '80.00', createdAt: '2026-11-12T00:00:00Z' }), shop.domain);
    await deliver('orders/create', order({ phone: bigBuyer.phone, total: '90.00', createdAt: '2026-11-15T00:00:00Z' }), shop.domain);

    const cases: [Record<string, unknown>, string[]][] = [
      [{ ordersCount: { min: 1 } }, [buyer.id, bigBuyer.id]],
      [{ ordersCount: { max: 0 } }, [browser.id]],
      [{ amountSpent: { min: 10_000 } }, [bigBuyer.id]],
      [{ lastOrderAt: { to: '2026-11-12T00:00:00Z' } }, [buyer.id]],
    ];
    const worker = env.workerDeps();
    for (const [audience, expected] of cases) {
      const campaign = await createCampaign(env.db, shop.id, { audience, status: 'queued' });
      expect((await previewCampaign(env.db, { shopId: shop.id, campaignId: campaign.id })).recipients).toBe(expected.length);
      await launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(), batchSize: 100 }, { campaignId: campaign.id, shopId: shop.id, traceId: 't' });
      const rows = await env.db.$queryRaw<{ contact_id: string }[]>`SELECT contact_id FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid`;
      expect(rows.map((r) => r.contact_id).sort()).toEqual([...expected].sort());
    }
  });

  describe('checkouts/create|update', () => {
    async function stored(shopId: string, token: string) {
      const [row] = await env.db.$queryRaw<{ contact_id: string | null; phone_e164: string | null; abandoned_checkout_url: string | null; shopify_updated_at: Date; completed_at: Date | null }[]>`
        SELECT contact_id, phone_e164, abandoned_checkout_url, shopify_updated_at, completed_at FROM shopify_checkouts WHERE shop_id = ${shopId}::uuid AND token = ${token}`;
      return row;
    }

    it('the newest updated_at wins whatever the delivery order; a completion is kept; the phone is stored in E.164 and links the contact', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const token = rid('tok');
      const typed = contact.phone.replace(/^\+1/, '+1 ');
      await deliver('checkouts/update', checkout(token, { updatedAt: '2026-11-20T10:05:00Z', url: 'https://shop.example/newer', phone: typed }), shop.domain);
      await deliver('checkouts/create', checkout(token, { updatedAt: '2026-11-20T10:00:00Z', url: 'https://shop.example/older', phone: typed }), shop.domain);
      expect(await stored(shop.id, token)).toEqual({
        contact_id: contact.id,
        phone_e164: contact.phone,
        abandoned_checkout_url: 'https://shop.example/newer',
        shopify_updated_at: new Date('2026-11-20T10:05:00Z'),
        completed_at: null,
      });
      await deliver('checkouts/update', checkout(token, { updatedAt: '2026-11-20T10:10:00Z', completedAt: '2026-11-20T10:10:00Z', phone: typed }), shop.domain);
      expect(await stored(shop.id, token)).toMatchObject({ completed_at: new Date('2026-11-20T10:10:00Z') });
      await deliver('checkouts/update', checkout(token, { updatedAt: '2026-11-20T10:20:00Z', completedAt: null, phone: typed }), shop.domain);
      expect(await stored(shop.id, token)).toMatchObject({ shopify_updated_at: new Date('2026-11-20T10:20:00Z'), completed_at: new Date('2026-11-20T10:10:00Z') });
    });

    it('a completion delivered after a later update is kept; the rest of that older delivery changes nothing', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const token = rid('tok');
      await deliver('checkouts/update', checkout(token, { updatedAt: '2026-11-20T10:30:00Z', url: 'https://shop.example/latest', phone: contact.phone }), shop.domain);
      await deliver('checkouts/update', checkout(token, { updatedAt: '2026-11-20T10:10:00Z', completedAt: '2026-11-20T10:10:00Z', url: 'https://shop.example/older', phone: testPhone() }), shop.domain);
      expect(await stored(shop.id, token)).toEqual({
        contact_id: contact.id,
        phone_e164: contact.phone,
        abandoned_checkout_url: 'https://shop.example/latest',
        shopify_updated_at: new Date('2026-11-20T10:30:00Z'),
        completed_at: new Date('2026-11-20T10:10:00Z'),
      });
      // The same stale completion again, and an older open state, change nothing.
      await deliver('checkouts/update', checkout(token, { updatedAt: '2026-11-20T10:12:00Z', completedAt: '2026-11-20T10:12:00Z', phone: contact.phone }), shop.domain);
      await deliver('checkouts/create', checkout(token, { updatedAt: '2026-11-20T10:00:00Z', phone: contact.phone }), shop.domain);
      expect(await stored(shop.id, token)).toMatchObject({ shopify_updated_at: new Date('2026-11-20T10:30:00Z'), completed_at: new Date('2026-11-20T10:10:00Z') });
    });

    it('a number that is not a valid phone is not stored', async () => {
      const shop = await createShop(env.db);
      const token = rid('tok');
      await deliver('checkouts/create', checkout(token, { updatedAt: '2026-11-20T10:00:00Z', phone: 'call me maybe' }), shop.domain);
      expect(await stored(shop.id, token)).toMatchObject({ phone_e164: null, contact_id: null });
    });
  });

  describe('privacy', () => {
    it('customers/data_request includes the orders and checkouts; customers/redact deletes the checkouts and strips the orders to anonymous totals', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id, { email: 'gdpr@example.test' });
      const customerId = shopifyId();
      await linkCustomer(contact.id, customerId);
      const o = order({ customerId, phone: contact.phone });
      await deliver('orders/create', o, shop.domain);
      const token = rid('tok');
      await deliver('checkouts/create', checkout(token, { updatedAt: '2026-11-20T10:00:00Z', phone: contact.phone }), shop.domain);
      // A checkout known only by its phone (it came before the contact existed) is the customer's too.
      const byPhoneOnly = rid('tok');
      await deliver('checkouts/create', checkout(byPhoneOnly, { updatedAt: '2026-11-20T11:00:00Z', phone: contact.phone }), shop.domain);
      await env.db.$executeRaw`UPDATE shopify_checkouts SET contact_id = NULL WHERE token = ${byPhoneOnly}`;

      const ref = { id: customerId, email: 'gdpr@example.test', phone: contact.phone };
      await deliver('customers/data_request', { shop_id: 1, shop_domain: shop.domain, customer: ref, orders_requested: [o.id], data_request: { id: 99 } }, shop.domain);
      const [req] = await env.db.$queryRaw<{ data: { orders: { orderId: string; totalMinor: number }[]; checkouts: { token: string; phone: string }[] } }[]>`
        SELECT data FROM privacy_requests WHERE shop_id = ${shop.id}::uuid AND kind = 'data_request'`;
      expect(req!.data.orders).toEqual([expect.objectContaining({ orderId: String(o.id), totalMinor: 4250, discountCodes: ['BF20'] })]);
      expect(req!.data.checkouts.map((k) => k.token).sort()).toEqual([token, byPhoneOnly].sort());
      expect(req!.data.checkouts.every((k) => k.phone === contact.phone)).toBe(true);

      await deliver('customers/redact', { shop_id: 1, shop_domain: shop.domain, customer: ref, orders_to_redact: [o.id] }, shop.domain);
      const [k] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM shopify_checkouts WHERE shop_id = ${shop.id}::uuid`;
      expect(k!.n).toBe(0n);
      const orders = await env.db.$queryRaw<Record<string, unknown>[]>`
        SELECT customer_id, contact_id, landing_site, referring_site, discount_codes, total_minor FROM shopify_orders WHERE shop_id = ${shop.id}::uuid`;
      expect(orders).toEqual([{ customer_id: null, contact_id: null, landing_site: null, referring_site: null, discount_codes: [], total_minor: 4250n }]);
      expect(await summary(contact.id)).toEqual({ orders_count: 0, amount_spent_minor: 0n, amount_spent_currency: null, last_order_at: null });
      // The stored order and checkout payloads named the customer: scrubbed with the rest.
      const [left] = await env.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*) AS n FROM webhook_events WHERE shop_id = ${shop.id}::uuid AND strpos(payload::text, ${contact.phone.slice(2)}) > 0`;
      expect(left!.n).toBe(0n);
    });

    it('customers/data_request includes the orders Shopify lists in orders_requested, of this shop only, though no customer or contact links them', async () => {
      const shop = await createShop(env.db);
      const other = await createShop(env.db);
      const orderId = String(shopifyId());
      for (const s of [shop, other]) {
        await env.db.$executeRaw`
          INSERT INTO shopify_orders (shop_id, order_id, total_minor, currency, ordered_at, landing_site)
          VALUES (${s.id}::uuid, ${orderId}, 4200, 'USD', now(), ${'/products/tee?from=' + s.domain})`;
      }
      const ref = { id: shopifyId(), email: `${rid('or')}@elsewhere.example.test`, phone: null };
      await deliver('customers/data_request', { shop_id: 1, shop_domain: shop.domain, customer: ref, orders_requested: [Number(orderId)], data_request: { id: 100 } }, shop.domain);
      const [req] = await env.db.$queryRaw<{ data: { orders: { orderId: string; landingSite: string }[] } }[]>`
        SELECT data FROM privacy_requests WHERE shop_id = ${shop.id}::uuid AND kind = 'data_request'`;
      expect(req!.data.orders).toEqual([expect.objectContaining({ orderId, totalMinor: 4200, contactId: null, landingSite: `/products/tee?from=${shop.domain}` })]);
    });

    it("the merchant's erasure of a contact (DELETE /api/contacts/:id) takes its checkouts and its link to its orders too", async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const customerId = shopifyId();
      await linkCustomer(contact.id, customerId);
      await deliver('orders/create', order({ customerId }), shop.domain);
      await deliver('checkouts/create', checkout(rid('tok'), { updatedAt: '2026-11-20T10:00:00Z', phone: contact.phone }), shop.domain);
      // Another customer's data stays.
      const other = await createContact(env.db, shop.id);
      await deliver('checkouts/create', checkout(rid('tok'), { updatedAt: '2026-11-20T10:00:00Z', phone: other.phone }), shop.domain);

      const res = await request(app).delete(`/api/contacts/${contact.id}`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
      expect(res.status).toBe(204);
      const checkouts = await env.db.$queryRaw<{ phone_e164: string }[]>`SELECT phone_e164 FROM shopify_checkouts WHERE shop_id = ${shop.id}::uuid`;
      expect(checkouts).toEqual([{ phone_e164: other.phone }]);
      const orders = await env.db.$queryRaw<Record<string, unknown>[]>`SELECT customer_id, contact_id, landing_site FROM shopify_orders WHERE shop_id = ${shop.id}::uuid`;
      expect(orders).toEqual([{ customer_id: null, contact_id: null, landing_site: null }]);
      expect(await summary(contact.id)).toEqual({ orders_count: 0, amount_spent_minor: 0n, amount_spent_currency: null, last_order_at: null });
    });
  });
});
