import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { createContact as createContactByApi } from '../../domain/contacts/create-contact';
import { recordShopifyCheckout } from '../../domain/checkouts/record-checkout';
import { importContacts } from '../../domain/contacts/import-contacts';
import { phoneHash } from '../../domain/contacts/phone';
import { lockBuyerPhones } from '../../domain/orders/buyer-phone-lock';
import { lockShopifyCustomer } from '../../domain/orders/customer-lock';
import { recordShopifyOrder } from '../../domain/orders/record-order';
import { applyCustomerChunk } from '../../domain/shop-sync/apply-customer-chunk';
import { readBulkCustomer, type SyncCustomer } from '../../domain/shop-sync/bulk-customer';
import { createContact, createContactImport, createShop, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { postShopify, rid, webhookEvent } from '../webhooks';
import { settleFlowTriggers } from './trigger-kit';

// An order or an abandoned checkout of no customer, stored before any contact
// held its number, is linked when that contact appears any other way than a
// customers/* webhook (test/flows/flow-order-before-customer for those): the
// merchant adding it (POST /api/contacts), moving a contact to the number
// (PATCH), a contact import, or the install/resync customer sync. Same window, bound, locks and triggers as the
// webhook's link: the post-purchase flow starts once if the contact is
// subscribed, the cart flow's job decides on consent as for any checkout.

describe('orders and checkouts stored before a contact that appears other than by a customers/* webhook', () => {
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

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const apiPost = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body);

  async function flow(shop: ShopFixture, trigger: 'order_created' | 'checkout_abandoned'): Promise<string> {
    const created = await apiPost(shop, '/api/flows', { name: trigger, trigger: { type: trigger }, steps: [{ type: 'send', body: trigger === 'checkout_abandoned' ? 'Still thinking? {{checkoutUrl}}' : 'Thanks for your order!' }] });
    expect(created.status).toBe(201);
    expect((await apiPost(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return created.body.id as string;
  }

  async function deliver(shop: ShopFixture, topic: string, body: Record<string, unknown>, webhookId = rid('wh')): Promise<void> {
    expect((await postShopify(app, topic, body, { shopDomain: shop.domain, webhookId })).status).toBe(200);
    let status = '';
    await waitFor(`${topic} settled`, async () => (status = (await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
    expect(status).toBe('processed');
  }

  const settleTriggers = (shopId: string): Promise<void> => settleFlowTriggers(env.db, worker, shopId);

  const runsOf = async (flowId: string) =>
    (await env.db.$queryRaw<{ contact_id: string; trigger_subject: string }[]>`
      SELECT contact_id, trigger_subject FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY trigger_subject`).map((r) => [r.trigger_subject, r.contact_id]);
  const orderLink = async (shop: ShopFixture, orderId: number) =>
    (await env.db.$queryRaw<{ contact_id: string | null }[]>`
      SELECT contact_id FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(orderId)}`)[0]?.contact_id;
  const checkoutLink = async (shop: ShopFixture, token: string) =>
    (await env.db.$queryRaw<{ contact_id: string | null }[]>`
      SELECT contact_id FROM shopify_checkouts WHERE shop_id = ${shop.id}::uuid AND token = ${token}`)[0]?.contact_id;
  const contactByPhone = async (shop: ShopFixture, phone: string) =>
    (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${phoneHash(phone)}`)[0]?.id;

  let seq = 1;
  const newId = (): number => Date.now() * 100 + seq++;
  const iso = (offsetSec: number): string => new Date(Date.now() + offsetSec * 1000).toISOString();
  /** An order of no customer (POS, draft, guest): only its numbers say who bought. An hour old: before the checkouts (a purchase after a cart stops its reminder). */
  const guestOrder = (id: number, numbers: { phone?: string; billing?: string; shipping?: string }, createdAt = iso(-3600)) => ({
    id,
    order_number: 1001,
    created_at: createdAt,
    total_price: '42.50',
    currency: 'USD',
    customer: null,
    phone: numbers.phone ?? null,
    ...(numbers.billing ? { billing_address: { phone: numbers.billing, country_code: 'US' } } : {}),
    ...(numbers.shipping ? { shipping_address: { phone: numbers.shipping, country_code: 'US' } } : {}),
    landing_site: null,
    referring_site: null,
    source_name: 'pos',
    discount_codes: [],
    line_items: [],
  });
  /** An open checkout of no customer, half an hour old. */
  const guestCheckout = (phone: string) => {
    const token = `tok${randomUUID().replace(/-/g, '')}`;
    const at = iso(-30 * 60);
    return {
      id: newId(), token, cart_token: 'cart', created_at: at, updated_at: at, completed_at: null,
      abandoned_checkout_url: `https://shop.example/checkouts/${token}/recover?key=k1`,
      phone, customer: null, line_items: [{ title: 'Tee', quantity: 1 }], total_price: '42.50', currency: 'USD',
    };
  };

  it('POST /api/contacts links the earlier orders and open checkouts of its number and starts their flows once; not an old one, nor one another contact holds', async () => {
    const shop = await createShop(env.db);
    const thanks = await flow(shop, 'order_created');
    const cart = await flow(shop, 'checkout_abandoned');
    const phone = testPhone();
    const other = await createContact(env.db, shop.id, { phone: testPhone() });
    const recent = newId();
    const old = newId();
    const shared = newId();
    await deliver(shop, 'orders/create', guestOrder(recent, { phone }));
    await deliver(shop, 'orders/create', guestOrder(old, { phone }, iso(-25 * 3600)));
    await deliver(shop, 'orders/create', guestOrder(shared, { billing: phone, shipping: other.phone }));
    const k = guestCheckout(phone);
    await deliver(shop, 'checkouts/create', k);
    await settleTriggers(shop.id);
    // The order whose other number another contact holds is that contact's already (it named only them).
    expect(await orderLink(shop, shared)).toBe(other.id);
    expect(await runsOf(thanks)).toEqual([[String(shared), other.id]]);
    expect(await runsOf(cart)).toEqual([]);

    const res = await apiPost(shop, '/api/contacts', { phone, smsConsent: 'subscribed' });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(await orderLink(shop, recent)).toBe(id);
    expect(await orderLink(shop, old)).toBeNull();
    expect(await orderLink(shop, shared)).toBe(other.id);
    expect(await checkoutLink(shop, k.token)).toBe(id);
    await settleTriggers(shop.id);
    expect(await runsOf(thanks)).toEqual([[String(recent), id], [String(shared), other.id]].sort((x, y) => x[0]!.localeCompare(y[0]!)));
    expect(await runsOf(cart)).toEqual([[k.token, id]]);

    // Added again (an upsert of the same number): nothing more.
    expect((await apiPost(shop, '/api/contacts', { phone, smsConsent: 'subscribed' })).status).toBe(200);
    await settleTriggers(shop.id);
    expect((await runsOf(thanks)).length).toBe(2);
    expect((await runsOf(cart)).length).toBe(1);
  });

  it('a contact added pending gets its earlier order linked but no post-purchase run until it subscribes', async () => {
    const shop = await createShop(env.db);
    const thanks = await flow(shop, 'order_created');
    const phone = testPhone();
    const orderId = newId();
    await deliver(shop, 'orders/create', guestOrder(orderId, { phone }));

    const res = await apiPost(shop, '/api/contacts', { phone });
    expect(res.status).toBe(201);
    expect(await orderLink(shop, orderId)).toBe(res.body.id);
    await settleTriggers(shop.id);
    expect(await runsOf(thanks)).toEqual([]);
  });

  it('PATCH moving a contact to the number links the earlier order and checkout of that number and starts their flows', async () => {
    const shop = await createShop(env.db);
    const thanks = await flow(shop, 'order_created');
    const cart = await flow(shop, 'checkout_abandoned');
    const contact = await createContact(env.db, shop.id, { phone: testPhone(), consent: 'subscribed' });
    const phone = testPhone();
    const orderId = newId();
    await deliver(shop, 'orders/create', guestOrder(orderId, { phone }));
    const k = guestCheckout(phone);
    await deliver(shop, 'checkouts/create', k);

    const res = await request(app).patch(`/api/contacts/${contact.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({ phone });
    expect(res.status).toBe(200);
    expect(await orderLink(shop, orderId)).toBe(contact.id);
    expect(await checkoutLink(shop, k.token)).toBe(contact.id);
    await settleTriggers(shop.id);
    expect(await runsOf(thanks)).toEqual([[String(orderId), contact.id]]);
    expect(await runsOf(cart)).toEqual([[k.token, contact.id]]);
  });

  it('a contact import links each new contact its earlier orders (at most 5 newest each) and checkouts, chunk by chunk', async () => {
    const shop = await createShop(env.db);
    const thanks = await flow(shop, 'order_created');
    const cart = await flow(shop, 'checkout_abandoned');
    const phones = [testPhone(), testPhone(), testPhone()];
    const many = Array.from({ length: 6 }, (_, i) => ({ id: newId(), at: iso(-60 * (i + 1)) }));
    for (const o of many) await deliver(shop, 'orders/create', guestOrder(o.id, { phone: phones[0] }, o.at));
    const second = newId();
    await deliver(shop, 'orders/create', guestOrder(second, { phone: phones[1] }));
    const k = guestCheckout(phones[2]!);
    await deliver(shop, 'checkouts/create', k);

    const imp = await createContactImport(env.db, shop.id, { rows: phones.map((p) => ({ phone: p, smsConsent: 'subscribed' })) });
    expect((await importContacts(env.db, { importId: imp.id, chunkSize: 2 })).status).toBe('completed');
    const [a, b, c] = await Promise.all(phones.map((p) => contactByPhone(shop, p)));
    for (const o of many.slice(0, 5)) expect(await orderLink(shop, o.id)).toBe(a);
    expect(await orderLink(shop, many[5]!.id)).toBeNull();
    expect(await orderLink(shop, second)).toBe(b);
    expect(await checkoutLink(shop, k.token)).toBe(c);
    await settleTriggers(shop.id);
    expect(await runsOf(thanks)).toEqual([...many.slice(0, 5).map((o) => [String(o.id), a]), [String(second), b]].sort((x, y) => x[0]!.localeCompare(y[0]!)));
    expect(await runsOf(cart)).toEqual([[k.token, c]]);
  });

  it('an order of the number stored while POST /api/contacts is in flight, and the other way round, is linked and its flow starts once', async () => {
    const shop = await createShop(env.db);
    const thanks = await flow(shop, 'order_created');
    const guestInput = (orderId: number, phone: string) => ({
      shopId: shop.id, orderId: String(orderId), customerId: null, phones: [phone], totalPrice: '42.50', currency: 'USD',
      orderedAt: new Date(), landingSite: null, referringSite: null, sourceName: 'pos', discountCodes: [],
    });
    const blocked = async () => {
      const [w] = await env.db.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
      return w!.n > 0;
    };

    // orders/create's transaction still open when the merchant adds the contact.
    const a = { orderId: newId(), phone: testPhone() };
    let added: Promise<request.Response> | undefined;
    await env.db.$transaction(async (tx) => {
      await lockBuyerPhones(tx, shop.id, [phoneHash(a.phone)]);
      expect(await recordShopifyOrder(tx, guestInput(a.orderId, a.phone))).toEqual({ outcome: 'recorded', contactId: null });
      let settled = false;
      added = apiPost(shop, '/api/contacts', { phone: a.phone, smsConsent: 'subscribed' }).then((r) => ((settled = true), r));
      await waitFor('the contact waits on the order (or is added)', async () => settled || (await blocked()));
    });
    expect((await added!).status).toBe(201);

    // The contact's transaction still open when orders/create comes in.
    const b = { orderId: newId(), phone: testPhone(), hook: rid('wh') };
    let delivered: Promise<void> | undefined;
    await env.db.$transaction(async (tx) => {
      await createContactByApi(tx, shop.id, { phone: b.phone, phoneE164: b.phone, phoneHash: phoneHash(b.phone), smsConsent: 'subscribed' } as Parameters<typeof createContactByApi>[2]);
      delivered = deliver(shop, 'orders/create', guestOrder(b.orderId, { phone: b.phone }), b.hook);
      await waitFor('the order waits on the contact', async () => (await blocked()) || ((await webhookEvent(env.db, 'shopify', b.hook))?.status ?? 'received') !== 'received');
    });
    await delivered;

    const ca = await contactByPhone(shop, a.phone);
    const cb = await contactByPhone(shop, b.phone);
    expect(await orderLink(shop, a.orderId)).toBe(ca);
    expect(await orderLink(shop, b.orderId)).toBe(cb);
    await settleTriggers(shop.id);
    expect(await runsOf(thanks)).toEqual([[String(a.orderId), ca], [String(b.orderId), cb]].sort((x, y) => x[0]!.localeCompare(y[0]!)));
  });

  /** A line of the sync's customer export: subscribed in Shopify. */
  const syncLine = (customerId: number, phone: string): SyncCustomer =>
    readBulkCustomer({
      id: `gid://shopify/Customer/${customerId}`,
      firstName: 'Ada',
      phone,
      updatedAt: iso(-60),
      smsMarketingConsent: { marketingState: 'SUBSCRIBED', marketingOptInLevel: 'SINGLE_OPT_IN', consentUpdatedAt: iso(-60), consentCollectedFrom: 'OTHER' },
    })!;
  const applySync = (shop: ShopFixture, customers: SyncCustomer[]) =>
    env.db.$transaction((tx) => applyCustomerChunk(tx, { shopId: shop.id, syncId: randomUUID(), customers, fallbackUpdatedAt: new Date() }), { timeout: 30_000 });
  const customerOrder = (id: number, customerId: number) => ({ ...guestOrder(id, {}), customer: { id: customerId, phone: null } });

  it('the install/resync sync links the earlier orders and checkouts of the contacts it creates, by customer id and by number, and starts their flows once', async () => {
    const shop = await createShop(env.db);
    const thanks = await flow(shop, 'order_created');
    const cart = await flow(shop, 'checkout_abandoned');
    const byId = { cust: newId(), phone: testPhone(), orderId: newId() };
    const byNumber = { cust: newId(), phone: testPhone(), orderId: newId() };
    await deliver(shop, 'orders/create', customerOrder(byId.orderId, byId.cust));
    await deliver(shop, 'orders/create', guestOrder(byNumber.orderId, { phone: byNumber.phone }));
    const k = guestCheckout(byNumber.phone);
    await deliver(shop, 'checkouts/create', k);

    await applySync(shop, [syncLine(byId.cust, byId.phone), syncLine(byNumber.cust, byNumber.phone)]);
    const a = await contactByPhone(shop, byId.phone);
    const b = await contactByPhone(shop, byNumber.phone);
    expect(await orderLink(shop, byId.orderId)).toBe(a);
    expect(await orderLink(shop, byNumber.orderId)).toBe(b);
    expect(await checkoutLink(shop, k.token)).toBe(b);
    await settleTriggers(shop.id);
    expect(await runsOf(thanks)).toEqual([[String(byId.orderId), a], [String(byNumber.orderId), b]].sort((x, y) => x[0]!.localeCompare(y[0]!)));
    expect(await runsOf(cart)).toEqual([[k.token, b]]);

    // A resync of the same customers: nothing more.
    await applySync(shop, [syncLine(byId.cust, byId.phone), syncLine(byNumber.cust, byNumber.phone)]);
    await settleTriggers(shop.id);
    expect((await runsOf(thanks)).length).toBe(2);
    expect((await runsOf(cart)).length).toBe(1);
  });

  it('an order stored while a sync chunk creating its contact is in flight, by customer or by number, is linked and its flow starts once', async () => {
    const shop = await createShop(env.db);
    const thanks = await flow(shop, 'order_created');
    const blocked = async () => {
      const [w] = await env.db.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
      return w!.n > 0;
    };
    const input = (orderId: number, customerId: number | null, phone: string) => ({
      shopId: shop.id, orderId: String(orderId), customerId: customerId === null ? null : String(customerId), phones: customerId === null ? [phone] : [],
      totalPrice: '42.50', currency: 'USD', orderedAt: new Date(), landingSite: null, referringSite: null, sourceName: 'web', discountCodes: [],
    });
    const a = { cust: newId(), phone: testPhone(), orderId: newId() };
    const b = { cust: newId(), phone: testPhone(), orderId: newId() };
    let synced: Promise<unknown> | undefined;
    // Both orders' transactions still open (each holding its buyer's lock, as orders/create does) when the chunk runs.
    await env.db.$transaction(async (tx) => {
      await lockShopifyCustomer(tx, shop.id, String(a.cust));
      expect(await recordShopifyOrder(tx, input(a.orderId, a.cust, a.phone))).toEqual({ outcome: 'recorded', contactId: null });
      await lockBuyerPhones(tx, shop.id, [phoneHash(b.phone)]);
      expect(await recordShopifyOrder(tx, input(b.orderId, null, b.phone))).toEqual({ outcome: 'recorded', contactId: null });
      let settled = false;
      synced = applySync(shop, [syncLine(a.cust, a.phone), syncLine(b.cust, b.phone)]).then(() => (settled = true));
      await waitFor('the sync chunk waits on the orders (or is applied)', async () => settled || (await blocked()));
    });
    await synced;

    const ca = await contactByPhone(shop, a.phone);
    const cb = await contactByPhone(shop, b.phone);
    expect(await orderLink(shop, a.orderId)).toBe(ca);
    expect(await orderLink(shop, b.orderId)).toBe(cb);
    await settleTriggers(shop.id);
    expect(await runsOf(thanks)).toEqual([[String(a.orderId), ca], [String(b.orderId), cb]].sort((x, y) => x[0]!.localeCompare(y[0]!)));
  });

  it('a checkout stored while an import chunk creating its contact is in flight, and one moved to by a PATCH in flight, is linked and its flow starts once', async () => {
    const shop = await createShop(env.db);
    const cart = await flow(shop, 'checkout_abandoned');
    const blocked = async () => {
      const [w] = await env.db.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
      return w!.n > 0;
    };
    const checkoutInput = (k: ReturnType<typeof guestCheckout>, phone: string) => ({
      shopId: shop.id, token: k.token, customerId: null, phones: [phone], abandonedCheckoutUrl: k.abandoned_checkout_url, updatedAt: new Date(k.updated_at), completedAt: null,
    });
    /** `run` started while a checkouts/* transaction of `phone` (its lock held, the checkout stored) is still open. */
    const whileCheckoutOpen = async (phone: string, run: () => Promise<unknown>) => {
      const k = guestCheckout(phone);
      let done: Promise<unknown> | undefined;
      await env.db.$transaction(async (tx) => {
        await lockBuyerPhones(tx, shop.id, [phoneHash(phone)]);
        expect(await recordShopifyCheckout(tx, checkoutInput(k, phone))).toBe('stored');
        let settled = false;
        done = run().then(() => (settled = true));
        await waitFor('the contact waits on the checkout (or is written)', async () => settled || (await blocked()));
      });
      await done;
      return k;
    };

    const imported = testPhone();
    const imp = await createContactImport(env.db, shop.id, { rows: [{ phone: imported, smsConsent: 'subscribed' }] });
    const ka = await whileCheckoutOpen(imported, () => importContacts(env.db, { importId: imp.id }));

    const moved = await createContact(env.db, shop.id, { phone: testPhone(), consent: 'subscribed' });
    const to = testPhone();
    const kb = await whileCheckoutOpen(to, async () =>
      expect((await request(app).patch(`/api/contacts/${moved.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({ phone: to })).status).toBe(200));

    const ca = await contactByPhone(shop, imported);
    expect(await checkoutLink(shop, ka.token)).toBe(ca);
    expect(await checkoutLink(shop, kb.token)).toBe(moved.id);
    await settleTriggers(shop.id);
    expect(await runsOf(cart)).toEqual([[ka.token, ca], [kb.token, moved.id]].sort((x, y) => x[0]!.localeCompare(y[0]!)));
  });
});
