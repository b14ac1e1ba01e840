import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { phoneHash } from '../../domain/contacts/phone';
import { checkShopifyBody } from '../../domain/webhooks/shopify-payloads';
import { createContact, createShop, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliverShopify } from '../webhooks';
import { settleFlowTriggers } from '../flows/trigger-kit';

// An order whose buyer we know only by a number (a guest or SMS-first
// checkout, a POS or draft order: no customer, or one never synced, no email)
// is linked to the shop's contact holding that number, so the message that
// led to it earns it and the flows hear of it. The customer id still decides
// first; the numbers must name exactly one contact of the shop, else nothing
// is linked; an invalid number links nothing; another shop's contact never.

describe('an order whose buyer is known only by phone', () => {
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
  interface Address {
    phone: string | null;
    country_code: string;
  }
  /** No email anywhere, as a POS, draft or SMS-first order has none. */
  const orderBody = (o: { total?: string; phone?: string | null; customer?: { id: number; phone: string | null } | null; billing?: Address; shipping?: Address }) => ({
    id: newId(),
    created_at: new Date().toISOString(),
    total_price: o.total ?? '30.00',
    currency: 'USD',
    customer: o.customer ?? null,
    phone: o.phone ?? null,
    ...(o.billing ? { billing_address: { first_name: 'Ada', address1: '1 Main St', city: 'Newark', ...o.billing } } : {}),
    ...(o.shipping ? { shipping_address: { first_name: 'Ada', address1: '1 Main St', city: 'Newark', ...o.shipping } } : {}),
    landing_site: '/sale',
    referring_site: null,
    source_name: 'pos',
    discount_codes: [],
    line_items: [{ title: 'Gift' }],
  });
  /** +1973NNNNNNN as a US shop's clerk types it: (973) NNN-NNNN. */
  const national = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;

  /** A sent campaign delivered to the contact an hour ago: its orders are the campaign's (view). */
  async function deliveredCampaign(shop: ShopFixture, contactId: string): Promise<string> {
    const hourAgo = new Date(Date.now() - 3_600_000);
    const [c] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Phone only', 'Sale https://phone-only.example/x', 'completed') RETURNING id`;
    await env.db.$executeRaw`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
      VALUES (${c!.id}::uuid, ${contactId}::uuid, 0, 'delivered', ${`p-${randomUUID()}`}, 1, ${hourAgo}, ${hourAgo})`;
    return c!.id;
  }

  const statsOf = async (shop: ShopFixture, campaignId: string) =>
    (await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', await auth(shop))).body as Record<string, unknown>;

  const linkOf = async (shop: ShopFixture, orderId: number) => {
    const [row] = await env.db.$queryRaw<{ contact_id: string | null }[]>`
      SELECT contact_id FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(orderId)}`;
    if (!row) throw new Error(`order ${orderId} not stored in ${shop.domain}`);
    return row.contact_id;
  };

  const attributionsOf = async (shop: ShopFixture) =>
    env.db.$queryRaw<{ order_id: string; campaign_id: string | null; contact_id: string | null; kind: string }[]>`
      SELECT order_id, campaign_id, contact_id, kind FROM order_attributions WHERE shop_id = ${shop.id}::uuid ORDER BY order_id`;

  const ordersSeen = async (contactId: string) =>
    (await env.db.$queryRaw<{ n: number }[]>`SELECT orders_seen AS n FROM contacts WHERE id = ${contactId}::uuid`)[0]!.n;

  const deliver = async (shop: ShopFixture, body: Record<string, unknown>, topic = 'orders/create') =>
    expect(await deliverShopify(app, env.db, topic, body, shop.domain)).toBe('processed');

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
    (await env.db.$queryRaw<{ trigger_subject: string }[]>`SELECT trigger_subject FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY trigger_subject`).map((r) => r.trigger_subject);

  it('is linked to the contact holding its number, earns the message that led to it and starts the post-purchase flow, once', async () => {
    const shop = await createShop(env.db);
    const flowId = await postPurchaseFlow(shop);
    const contact = await createContact(env.db, shop.id, { phone: testPhone() });
    const campaignId = await deliveredCampaign(shop, contact.id);
    const before = await ordersSeen(contact.id);

    // POS: no customer, the number typed on the billing address in the shop's national format.
    const pos = orderBody({ total: '40.00', billing: { phone: national(contact.phone), country_code: 'US' } });
    // Draft order for a customer never synced here, the number only on the shipping address.
    const draft = orderBody({ total: '15.00', customer: { id: newId(), phone: null }, shipping: { phone: national(contact.phone), country_code: 'us' } });
    // SMS-first checkout: the order's number is the contact's; the customer record (never synced) has an old one.
    const sms = orderBody({ total: '5.50', phone: contact.phone, customer: { id: newId(), phone: testPhone() } });
    for (const o of [pos, draft, sms]) await deliver(shop, o);

    for (const o of [pos, draft, sms]) expect(await linkOf(shop, o.id)).toBe(contact.id);
    expect(await attributionsOf(shop)).toEqual(
      [pos, draft, sms].map((o) => ({ order_id: String(o.id), campaign_id: campaignId, contact_id: contact.id, kind: 'view' })).sort((a, b) => a.order_id.localeCompare(b.order_id)),
    );
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 3, attributedRevenue: [{ currency: 'USD', orders: 3, amount: '60.50' }] });
    expect(await ordersSeen(contact.id)).toBe(before + 3);
    await settleTriggers(shop.id);
    expect(await runSubjects(flowId)).toEqual([pos, draft, sms].map((o) => String(o.id)).sort());

    // The stored body keeps the number it read, in E.164, and nothing else of the address.
    const [stored] = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'orders/create' AND payload->>'id' = ${String(pos.id)}`;
    expect(stored!.payload).toMatchObject({ phone: null, customer: null, billing_address: { phone: contact.phone } });
    expect(stored!.payload).not.toHaveProperty('shipping_address');
    expect(JSON.stringify(stored!.payload)).not.toContain('Main St');
    expect(checkShopifyBody('orders/create', stored!.payload)).toMatchObject({ known: true, valid: true });

    // The same orders again (other bytes, new webhook ids), and one cancelled later: nothing counts twice.
    for (const o of [pos, draft, sms]) await deliver(shop, { ...o, note: 'resent' });
    await deliver(shop, { ...draft, cancelled_at: new Date().toISOString() }, 'orders/cancelled');
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 2, attributedRevenue: [{ currency: 'USD', orders: 2, amount: '45.50' }] });
    expect(await ordersSeen(contact.id)).toBe(before + 3);
    await settleTriggers(shop.id);
    expect(await runSubjects(flowId)).toEqual([pos, draft, sms].map((o) => String(o.id)).sort());
  });

  it('goes to the contact holding the customer id before any phone; the numbers decide only when no contact holds the id', async () => {
    const shop = await createShop(env.db);
    const byId = await createContact(env.db, shop.id, { phone: testPhone() });
    const byPhone = await createContact(env.db, shop.id, { phone: testPhone() });
    const customerId = newId();
    await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(customerId)} WHERE id = ${byId.id}::uuid`;

    // Every number of the order is the other contact's: the customer id wins.
    const known = orderBody({
      phone: byPhone.phone,
      customer: { id: customerId, phone: byPhone.phone },
      billing: { phone: byPhone.phone, country_code: 'US' },
    });
    // The same numbers, a customer we have never synced: the number decides.
    const unknown = orderBody({ customer: { id: newId(), phone: null }, billing: { phone: national(byPhone.phone), country_code: 'US' } });
    for (const o of [known, unknown]) await deliver(shop, o);
    expect(await linkOf(shop, known.id)).toBe(byId.id);
    expect(await linkOf(shop, unknown.id)).toBe(byPhone.id);
    expect([await ordersSeen(byId.id), await ordersSeen(byPhone.id)]).toEqual([1, 1]);
  });

  it("is not linked by phone to another Shopify customer's contact: a known, different customer id is not overridden by a number", async () => {
    const shop = await createShop(env.db);
    const flowId = await postPurchaseFlow(shop);
    const theirs = await createContact(env.db, shop.id, { phone: testPhone() });
    const theirCustomer = newId();
    await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(theirCustomer)} WHERE id = ${theirs.id}::uuid`;
    const campaignId = await deliveredCampaign(shop, theirs.id);

    // Another customer (never synced here) whose order carries this contact's number, in every place it can.
    const otherCustomers = [
      orderBody({ phone: theirs.phone, customer: { id: newId(), phone: null } }),
      orderBody({ customer: { id: newId(), phone: theirs.phone } }),
      orderBody({ customer: { id: newId(), phone: null }, billing: { phone: national(theirs.phone), country_code: 'US' } }),
    ];
    // No customer at all (POS): nothing says it is someone else's, the number decides.
    const guest = orderBody({ billing: { phone: national(theirs.phone), country_code: 'US' } });
    // This contact's own customer id: linked, whatever the numbers.
    const own = orderBody({ customer: { id: theirCustomer, phone: testPhone() } });
    for (const o of [...otherCustomers, guest, own]) await deliver(shop, o);

    for (const o of otherCustomers) expect(await linkOf(shop, o.id)).toBeNull();
    expect(await linkOf(shop, guest.id)).toBe(theirs.id);
    expect(await linkOf(shop, own.id)).toBe(theirs.id);
    expect(await ordersSeen(theirs.id)).toBe(2);
    expect(await statsOf(shop, campaignId)).toMatchObject({ attributedOrders: 2 });
    await settleTriggers(shop.id);
    expect(await runSubjects(flowId)).toEqual([String(guest.id), String(own.id)].sort());

    // A contact with no customer id holding another of the order's numbers is still found by it.
    const open = await createContact(env.db, shop.id, { phone: testPhone() });
    const both = orderBody({ phone: open.phone, customer: { id: newId(), phone: theirs.phone } });
    await deliver(shop, both);
    expect(await linkOf(shop, both.id)).toBe(open.id);
  });

  it('is linked to nobody when its numbers name two contacts or none is a valid number; an invalid one does not hide a valid one', async () => {
    const shop = await createShop(env.db);
    const flowId = await postPurchaseFlow(shop);
    const a = await createContact(env.db, shop.id, { phone: testPhone() });
    const b = await createContact(env.db, shop.id, { phone: testPhone() });
    const campaignA = await deliveredCampaign(shop, a.id);
    const campaignB = await deliveredCampaign(shop, b.id);

    const unlinked = [
      // The order's number is one contact's, the customer record's another's: nothing says which bought.
      orderBody({ phone: a.phone, customer: { id: newId(), phone: b.phone } }),
      // The billing address one contact's, the shipping address another's.
      orderBody({ billing: { phone: a.phone, country_code: 'US' }, shipping: { phone: national(b.phone), country_code: 'US' } }),
      // Not a number: letters, an extension, too short, or written without its country and no address to tell it.
      orderBody({ phone: 'call me', customer: { id: newId(), phone: `${a.phone} ext. 12` }, billing: { phone: '+1 973 55', country_code: 'US' } }),
      orderBody({ phone: national(a.phone) }),
      // The buyer gave a number of their own (no contact): the shipping address's, a gift's recipient, is not read.
      orderBody({ phone: testPhone(), shipping: { phone: b.phone, country_code: 'US' } }),
    ];
    // An invalid number of higher trust is passed over for a valid one.
    const linked = orderBody({ phone: '555', customer: { id: newId(), phone: 'n/a' }, billing: { phone: national(a.phone), country_code: 'US' } });
    const linkedToo = orderBody({ phone: a.phone, customer: { id: newId(), phone: 'unknown' } });
    for (const o of [...unlinked, linked, linkedToo]) await deliver(shop, o);

    for (const o of unlinked) expect(await linkOf(shop, o.id)).toBeNull();
    expect(await linkOf(shop, linked.id)).toBe(a.id);
    expect(await linkOf(shop, linkedToo.id)).toBe(a.id);
    expect((await attributionsOf(shop)).map((r) => [r.order_id, r.campaign_id])).toEqual(
      [String(linked.id), String(linkedToo.id)].sort().map((id) => [id, campaignA]),
    );
    expect(await statsOf(shop, campaignB)).toMatchObject({ attributedOrders: 0 });
    expect([await ordersSeen(a.id), await ordersSeen(b.id)]).toEqual([2, 0]);
    await settleTriggers(shop.id);
    expect(await runSubjects(flowId)).toEqual([String(linked.id), String(linkedToo.id)].sort());
  });

  it("never links another shop's contact; each shop's own contact holding the number gets its own shop's order", async () => {
    const phone = testPhone();
    const holder = await createShop(env.db);
    const stranger = await createShop(env.db);
    const other = await createShop(env.db);
    const own = await createContact(env.db, holder.id, { phone });
    // The stranger shop has contacts, none with this number.
    await createContact(env.db, stranger.id, { phone: testPhone() });
    const otherOwn = await createContact(env.db, other.id, { phone });

    const order = orderBody({ billing: { phone: national(phone), country_code: 'US' } });
    const strangers = orderBody({ billing: { phone: national(phone), country_code: 'US' } });
    await deliver(holder, order);
    await deliver(stranger, strangers);
    expect(await linkOf(holder, order.id)).toBe(own.id);
    expect(await linkOf(stranger, strangers.id)).toBeNull();
    expect(await ordersSeen(own.id)).toBe(1);

    // The body as the holder stored it (cut down, the number E.164, no country), delivered to a third shop
    // under another order id: read the same, and linked to that shop's own contact.
    const [stored] = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${holder.id}::uuid AND topic = 'orders/create'`;
    const again = { ...stored!.payload, id: newId() };
    await deliver(other, again);
    expect(await linkOf(other, again.id)).toBe(otherOwn.id);
    expect(await ordersSeen(own.id)).toBe(1);
  });

  it('keeps its numbers only as hashes, which a data request finds and customers/redact and the erasure of their contact take', async () => {
    const shop = await createShop(env.db);
    const nobody = testPhone();
    const kept = await createContact(env.db, shop.id, { phone: testPhone() });
    const erased = await createContact(env.db, shop.id, { phone: testPhone() });
    // No contact holds its number: unlinked, its number kept as a hash to link it when one appears.
    const alone = orderBody({ phone: nobody });
    // Two contacts' numbers: unlinked too.
    const two = orderBody({ billing: { phone: erased.phone, country_code: 'US' }, shipping: { phone: kept.phone, country_code: 'US' } });
    for (const o of [alone, two]) await deliver(shop, o);
    const hashesOf = async (o: { id: number }) =>
      (await env.db.$queryRaw<{ h: string[]; landing_site: string | null }[]>`
        SELECT buyer_phone_hashes AS h, landing_site FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(o.id)}`)[0]!;
    expect(await hashesOf(alone)).toEqual({ h: [phoneHash(nobody)], landing_site: '/sale' });
    expect((await hashesOf(two)).h).toEqual([phoneHash(erased.phone), phoneHash(kept.phone)]);
    expect(JSON.stringify(await env.db.$queryRaw`SELECT to_jsonb(o)::text AS row FROM shopify_orders o WHERE shop_id = ${shop.id}::uuid`)).not.toContain(nobody.slice(1));

    // The data request of the number's customer shows the order; the redact takes what linked it to them.
    await deliver(shop, { shop_id: 1, shop_domain: shop.domain, customer: { id: newId(), email: null, phone: nobody }, orders_requested: [], data_request: { id: 9 } }, 'customers/data_request');
    const list = await request(app).get('/api/privacy/requests').set('Authorization', await auth(shop));
    const detail = await request(app).get(`/api/privacy/requests/${list.body.data[0].id}`).set('Authorization', await auth(shop));
    expect(detail.body.data.orders).toEqual([expect.objectContaining({ orderId: String(alone.id) })]);
    await deliver(shop, { shop_id: 1, shop_domain: shop.domain, customer: { id: null, email: null, phone: nobody }, orders_to_redact: [] }, 'customers/redact');
    expect(await hashesOf(alone)).toEqual({ h: [], landing_site: null });
    expect((await hashesOf(two)).h).toHaveLength(2);

    // Erasing a contact whose number the order carries takes them too.
    expect((await request(app).delete(`/api/contacts/${erased.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID())).status).toBe(204);
    expect(await hashesOf(two)).toEqual({ h: [], landing_site: null });
  });

  it("is scrubbed from the stored payloads when the buyer is redacted by the number it was linked by", async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: testPhone() });
    const order = orderBody({ shipping: { phone: national(contact.phone), country_code: 'US' } });
    await deliver(shop, order);
    expect(await linkOf(shop, order.id)).toBe(contact.id);

    await deliver(shop, { shop_id: 1, shop_domain: shop.domain, customer: { id: null, email: null, phone: contact.phone }, orders_to_redact: [] }, 'customers/redact');
    const payloads = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'orders/create'`;
    expect(payloads.map((p) => p.payload)).toEqual([{ redacted: true }]);
    expect(await linkOf(shop, order.id)).toBeNull();
  });
});
