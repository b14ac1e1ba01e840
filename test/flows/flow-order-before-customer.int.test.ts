import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { postShopify, rid, webhookEvent } from '../webhooks';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { dispatchOutbox } from '../../domain/outbox/outbox';
import { syncShopifyCustomer } from '../../domain/contacts/sync-shopify-customer';
import { phoneHash } from '../../domain/contacts/phone';
import { lockBuyerPhones } from '../../domain/orders/buyer-phone-lock';
import { lockShopifyCustomer } from '../../domain/orders/customer-lock';
import { recordShopifyOrder } from '../../domain/orders/record-order';

// Shopify does not order its webhooks: orders/create for a new customer often
// comes before customers/create, and the SMS consent may come seconds after
// checkout. The post-purchase flow must still start, once per order, when the
// customer's contact appears or subscribes within the window — and never for
// a customer who does not subscribe. Everything through the signed webhook
// route, the webhook worker, the outbox and the flows.trigger.v1 job.

describe('post-purchase flow for an order that arrives before its subscribed contact', () => {
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

  async function postPurchaseFlow(shop: ShopFixture): Promise<string> {
    const created = await apiPost(shop, '/api/flows', { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks for your order!' }] });
    expect(created.status).toBe(201);
    expect((await apiPost(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return created.body.id as string;
  }

  async function deliver(shop: ShopFixture, topic: string, body: Record<string, unknown>, webhookId = rid('wh')): Promise<void> {
    const res = await postShopify(app, topic, body, { shopDomain: shop.domain, webhookId });
    expect(res.status).toBe(200);
    let status = '';
    await waitFor(`${topic} settled`, async () => (status = (await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
    // Applied, never failed (a deadlock would be); `gone`: a resend of a stored body, which the inbox does not store again.
    expect(['processed', 'ignored', 'gone']).toContain(status);
  }

  const pendingTriggers = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shopId} AND published_at IS NULL`;
    return r!.n;
  };
  /** The outbox dispatcher's pass, then the flows queue until idle: every trigger written so far has run. */
  async function settleTriggers(shopId: string): Promise<void> {
    await waitFor('flow trigger events published', async () => {
      await dispatchOutbox(env.db, worker.producer);
      return (await pendingTriggers(shopId)) === 0;
    });
    const queue = worker.queues.all().find((q) => q.name === 'flows')!;
    await waitFor('flows queue idle', async () => {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    });
  }

  const runsOf = (flowId: string) =>
    env.db.$queryRaw<{ contact_id: string; trigger_subject: string }[]>`
      SELECT contact_id, trigger_subject FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY id`;
  const contactOf = async (shopId: string, customerId: number) => {
    const [c] = await env.db.$queryRaw<{ id: string }[]>`
      SELECT id FROM contacts WHERE shop_id = ${shopId}::uuid AND shopify_customer_id = ${String(customerId)}`;
    return c?.id;
  };

  let seq = 1;
  const newId = (): number => Date.now() * 100 + seq++;
  const iso = (offsetSec: number): string => new Date(Date.now() + offsetSec * 1000).toISOString();
  const order = (id: number, customerId: number, createdAt = iso(0)) => ({
    id,
    order_number: 1001,
    created_at: createdAt,
    total_price: '42.50',
    currency: 'USD',
    customer: { id: customerId, phone: null },
    landing_site: null,
    referring_site: null,
    source_name: 'web',
    discount_codes: [],
    line_items: [],
  });
  /** An order of no customer (POS, draft, guest): only its numbers say who bought. */
  const guestOrder = (id: number, numbers: { phone?: string; billing?: string; shipping?: string }, createdAt = iso(0)) => ({
    ...order(id, 0, createdAt),
    customer: null,
    phone: numbers.phone ?? null,
    ...(numbers.billing ? { billing_address: { phone: numbers.billing, country_code: 'US' } } : {}),
    ...(numbers.shipping ? { shipping_address: { phone: numbers.shipping, country_code: 'US' } } : {}),
  });
  const linkOf = async (shopId: string, orderId: number) =>
    (await env.db.$queryRaw<{ contact_id: string | null }[]>`
      SELECT contact_id FROM shopify_orders WHERE shop_id = ${shopId}::uuid AND order_id = ${String(orderId)}`)[0]?.contact_id;
  const customer = (id: number, phone: string, state: string, updatedAt: string) => ({
    id,
    phone,
    email: null,
    first_name: 'Ada',
    last_name: 'Lovelace',
    updated_at: updatedAt,
    sms_marketing_consent: { state, opt_in_level: 'single_opt_in', consent_updated_at: updatedAt },
  });

  it('orders/create before customers/create (subscribed) starts the flow once, whatever is redelivered or resubscribed', async () => {
    const shop = await createShop(env.db);
    const flow = await postPurchaseFlow(shop);
    const cust = newId();
    const orderId = newId();
    const phone = testPhone();
    // Another shop with an order under the same customer id (ids are per shop): never linked from this shop.
    const other = await createShop(env.db);
    const otherFlow = await postPurchaseFlow(other);
    const otherOrderId = newId();
    await deliver(other, 'orders/create', order(otherOrderId, cust));
    const orderHook = rid('wh');
    await deliver(shop, 'orders/create', order(orderId, cust), orderHook);
    await settleTriggers(shop.id);
    expect(await runsOf(flow)).toEqual([]);

    const created = customer(cust, phone, 'subscribed', iso(1));
    const customerHook = rid('wh');
    await deliver(shop, 'customers/create', created, customerHook);
    await settleTriggers(shop.id);
    const contactId = await contactOf(shop.id, cust);
    expect(await runsOf(flow)).toEqual([{ contact_id: contactId, trigger_subject: String(orderId) }]);
    await settleTriggers(other.id);
    expect(await runsOf(otherFlow)).toEqual([]);
    const [otherOrder] = await env.db.$queryRaw<{ contact_id: string | null }[]>`
      SELECT contact_id FROM shopify_orders WHERE shop_id = ${other.id}::uuid AND order_id = ${String(otherOrderId)}`;
    expect(otherOrder).toEqual({ contact_id: null });

    // Redeliveries of both webhooks (same and new webhook ids), a later update, an opt-out and a second subscription.
    await postShopify(app, 'orders/create', order(orderId, cust), { shopDomain: shop.domain, webhookId: orderHook });
    await deliver(shop, 'orders/create', order(orderId, cust));
    await postShopify(app, 'customers/create', created, { shopDomain: shop.domain, webhookId: customerHook });
    await deliver(shop, 'customers/create', created);
    await deliver(shop, 'customers/update', customer(cust, phone, 'subscribed', iso(2)));
    await deliver(shop, 'customers/update', customer(cust, phone, 'unsubscribed', iso(3)));
    await deliver(shop, 'customers_marketing_consent/update', customer(cust, phone, 'subscribed', iso(4)));
    await settleTriggers(shop.id);
    // Every trigger event published and run again (a dispatcher that crashed before marking them).
    await env.db.$executeRaw`UPDATE outbox_events SET published_at = NULL, consumed_at = NULL, consumed_parts = '[]' WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shop.id}`;
    await settleTriggers(shop.id);
    expect(await runsOf(flow)).toEqual([{ contact_id: contactId, trigger_subject: String(orderId) }]);
  });

  it('an order of a contact not subscribed yet starts the flow once when the customer subscribes seconds later, and not again on a second subscription', async () => {
    const shop = await createShop(env.db);
    const flow = await postPurchaseFlow(shop);
    const cust = newId();
    const phone = testPhone();
    await deliver(shop, 'customers/create', customer(cust, phone, 'not_subscribed', iso(0)));
    const orderId = newId();
    await deliver(shop, 'orders/create', order(orderId, cust));
    await settleTriggers(shop.id);
    expect(await runsOf(flow)).toEqual([]);

    await deliver(shop, 'customers_marketing_consent/update', customer(cust, phone, 'subscribed', iso(5)));
    await settleTriggers(shop.id);
    const contactId = await contactOf(shop.id, cust);
    expect(await runsOf(flow)).toEqual([{ contact_id: contactId, trigger_subject: String(orderId) }]);

    await deliver(shop, 'customers/update', customer(cust, phone, 'unsubscribed', iso(10)));
    await deliver(shop, 'customers/update', customer(cust, phone, 'subscribed', iso(15)));
    await settleTriggers(shop.id);
    expect(await runsOf(flow)).toEqual([{ contact_id: contactId, trigger_subject: String(orderId) }]);
  });

  it('orders/create and customers/create racing each other start the flow exactly once per order', async () => {
    const shop = await createShop(env.db);
    const flow = await postPurchaseFlow(shop);
    const pairs = Array.from({ length: 6 }, () => ({ cust: newId(), orderId: newId(), phone: testPhone() }));
    await Promise.all(
      pairs.flatMap((p) => [
        deliver(shop, 'orders/create', order(p.orderId, p.cust)),
        deliver(shop, 'customers/create', customer(p.cust, p.phone, 'subscribed', iso(0))),
        deliver(shop, 'customers/create', customer(p.cust, p.phone, 'subscribed', iso(0))),
      ]),
    );
    await settleTriggers(shop.id);
    const runs = await runsOf(flow);
    expect(runs.map((r) => r.trigger_subject).sort()).toEqual(pairs.map((p) => String(p.orderId)).sort());
    for (const p of pairs) expect(runs.find((r) => r.trigger_subject === String(p.orderId))?.contact_id).toBe(await contactOf(shop.id, p.cust));
  });

  /** Runs `open` in a transaction kept open until `delivery` (started inside it) is blocked on a lock or has been applied. */
  async function whileOpen(open: (tx: Parameters<Parameters<TestEnv['db']['$transaction']>[0]>[0]) => Promise<void>, delivery: () => Promise<void>, webhookId: string): Promise<void> {
    let delivered: Promise<void> | undefined;
    await env.db.$transaction(async (tx) => {
      await open(tx);
      delivered = delivery();
      await waitFor('the delivery blocked or applied', async () => {
        const [w] = await env.db.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
        return w!.n > 0 || ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'received') !== 'received';
      });
    });
    await delivered;
  }

  it('customers/create applied while an orders/create of the same customer is in flight, and the other way round, still link the order and start the flow once', async () => {
    const shop = await createShop(env.db);
    const flow = await postPurchaseFlow(shop);
    const orderInput = (orderId: number, cust: number) => ({
      shopId: shop.id, orderId: String(orderId), customerId: String(cust), phones: [], totalPrice: '42.50', currency: 'USD',
      orderedAt: new Date(), landingSite: null, referringSite: null, sourceName: 'web', discountCodes: [],
    });

    // orders/create's transaction (its own first steps) still open when customers/create comes in.
    const a = { cust: newId(), orderId: newId(), phone: testPhone(), hook: rid('wh') };
    await whileOpen(
      async (tx) => {
        await lockShopifyCustomer(tx, shop.id, String(a.cust));
        expect(await recordShopifyOrder(tx, orderInput(a.orderId, a.cust))).toEqual({ outcome: 'recorded', contactId: null });
      },
      () => deliver(shop, 'customers/create', customer(a.cust, a.phone, 'subscribed', iso(0)), a.hook),
      a.hook,
    );

    // customers/create's transaction still open when orders/create comes in.
    const b = { cust: newId(), orderId: newId(), phone: testPhone(), hook: rid('wh') };
    await whileOpen(
      async (tx) => {
        await lockShopifyCustomer(tx, shop.id, String(b.cust));
        await syncShopifyCustomer(tx, { shopId: shop.id, customerId: String(b.cust), phone: b.phone, consent: 'subscribed', updatedAt: new Date() });
      },
      () => deliver(shop, 'orders/create', order(b.orderId, b.cust), b.hook),
      b.hook,
    );

    await settleTriggers(shop.id);
    const runs = await runsOf(flow);
    expect(runs.map((r) => r.trigger_subject).sort()).toEqual([String(a.orderId), String(b.orderId)].sort());
    expect(runs.find((r) => r.trigger_subject === String(a.orderId))?.contact_id).toBe(await contactOf(shop.id, a.cust));
    expect(runs.find((r) => r.trigger_subject === String(b.orderId))?.contact_id).toBe(await contactOf(shop.id, b.cust));
  });

  it('an order of no customer known only by its number is linked when customers/create brings the contact of that number, once, unless its numbers name another contact or it names another customer', async () => {
    const shop = await createShop(env.db);
    const flow = await postPurchaseFlow(shop);
    const cust = newId();
    const phone = testPhone();
    const gift = testPhone();

    // Before the contact: a POS order with the number on the billing address, an SMS-first guest order,
    // an order also carrying a number another contact will hold, another customer's order with the number, and one older than the window.
    const pos = newId();
    const guest = newId();
    const twoPeople = newId();
    const otherCustomer = newId();
    const old = newId();
    await deliver(shop, 'orders/create', guestOrder(pos, { billing: phone }));
    await deliver(shop, 'orders/create', guestOrder(guest, { phone }));
    await deliver(shop, 'orders/create', guestOrder(twoPeople, { billing: phone, shipping: gift }));
    await deliver(shop, 'orders/create', { ...order(otherCustomer, newId()), phone });
    await deliver(shop, 'orders/create', guestOrder(old, { phone }, iso(-25 * 3600)));
    for (const id of [pos, guest, twoPeople, otherCustomer, old]) expect(await linkOf(shop.id, id)).toBeNull();
    // The gift's recipient becomes a contact some other way (an import): it links nothing by itself.
    const recipient = await createContact(env.db, shop.id, { phone: gift });

    const created = customer(cust, phone, 'subscribed', iso(1));
    await deliver(shop, 'customers/create', created);
    await settleTriggers(shop.id);
    const contactId = await contactOf(shop.id, cust);
    expect(await linkOf(shop.id, pos)).toBe(contactId);
    expect(await linkOf(shop.id, guest)).toBe(contactId);
    for (const id of [twoPeople, otherCustomer, old]) expect(await linkOf(shop.id, id)).toBeNull();
    expect((await runsOf(flow)).map((r) => [r.contact_id, r.trigger_subject]).sort()).toEqual([[contactId, String(pos)], [contactId, String(guest)]].sort());

    // Redelivered, updated, resubscribed: nothing more; the recipient's contact still has nothing.
    await deliver(shop, 'customers/create', created);
    await deliver(shop, 'customers/update', customer(cust, phone, 'unsubscribed', iso(2)));
    await deliver(shop, 'customers_marketing_consent/update', customer(cust, phone, 'subscribed', iso(3)));
    await settleTriggers(shop.id);
    expect((await runsOf(flow)).length).toBe(2);
    expect(await linkOf(shop.id, twoPeople)).toBeNull();
    expect(recipient.id).not.toBe(contactId);
  });

  it('customers/create applied while an orders/create of no customer with its number is in flight, and the other way round, still link the order and start the flow once', async () => {
    const shop = await createShop(env.db);
    const flow = await postPurchaseFlow(shop);
    const guestInput = (orderId: number, phone: string) => ({
      shopId: shop.id, orderId: String(orderId), customerId: null, phones: [phone], totalPrice: '42.50', currency: 'USD',
      orderedAt: new Date(), landingSite: null, referringSite: null, sourceName: 'pos', discountCodes: [],
    });

    // orders/create's transaction (its own first steps) still open when customers/create comes in.
    const a = { cust: newId(), orderId: newId(), phone: testPhone(), hook: rid('wh') };
    await whileOpen(
      async (tx) => {
        await lockBuyerPhones(tx, shop.id, [phoneHash(a.phone)]);
        expect(await recordShopifyOrder(tx, guestInput(a.orderId, a.phone))).toEqual({ outcome: 'recorded', contactId: null });
      },
      () => deliver(shop, 'customers/create', customer(a.cust, a.phone, 'subscribed', iso(0)), a.hook),
      a.hook,
    );

    // customers/create's transaction still open when orders/create comes in.
    const b = { cust: newId(), orderId: newId(), phone: testPhone(), hook: rid('wh') };
    await whileOpen(
      async (tx) => {
        await lockShopifyCustomer(tx, shop.id, String(b.cust));
        await lockBuyerPhones(tx, shop.id, [phoneHash(b.phone)]);
        await syncShopifyCustomer(tx, { shopId: shop.id, customerId: String(b.cust), phone: b.phone, consent: 'subscribed', updatedAt: new Date() });
      },
      () => deliver(shop, 'orders/create', guestOrder(b.orderId, { phone: b.phone }), b.hook),
      b.hook,
    );

    await settleTriggers(shop.id);
    expect(await linkOf(shop.id, a.orderId)).toBe(await contactOf(shop.id, a.cust));
    expect(await linkOf(shop.id, b.orderId)).toBe(await contactOf(shop.id, b.cust));
    const runs = await runsOf(flow);
    expect(runs.map((r) => r.trigger_subject).sort()).toEqual([String(a.orderId), String(b.orderId)].sort());
    expect(runs.find((r) => r.trigger_subject === String(a.orderId))?.contact_id).toBe(await contactOf(shop.id, a.cust));
    expect(runs.find((r) => r.trigger_subject === String(b.orderId))?.contact_id).toBe(await contactOf(shop.id, b.cust));
  });

  it('an order older than the window, a customer who never subscribes or who opted out, and a flow activated after the order start nothing', async () => {
    const shop = await createShop(env.db);
    const flow = await postPurchaseFlow(shop);

    // Ordered 25 h ago (Shopify retries for 48 h), its customer subscribed only now.
    const old = { cust: newId(), orderId: newId(), phone: testPhone() };
    await deliver(shop, 'orders/create', order(old.orderId, old.cust, iso(-25 * 3600)));
    await deliver(shop, 'customers/create', customer(old.cust, old.phone, 'subscribed', iso(0)));

    // Never subscribes: created pending, then updated, still not subscribed.
    const never = { cust: newId(), orderId: newId(), phone: testPhone() };
    await deliver(shop, 'orders/create', order(never.orderId, never.cust));
    await deliver(shop, 'customers/create', customer(never.cust, never.phone, 'not_subscribed', iso(0)));
    await deliver(shop, 'customers/update', customer(never.cust, never.phone, 'pending', iso(5)));

    // Opted out in Shopify.
    const out = { cust: newId(), orderId: newId(), phone: testPhone() };
    await deliver(shop, 'orders/create', order(out.orderId, out.cust));
    await deliver(shop, 'customers/create', customer(out.cust, out.phone, 'unsubscribed', iso(0)));
    await settleTriggers(shop.id);
    expect(await runsOf(flow)).toEqual([]);

    // A flow paused when the order came in and activated again before the customer subscribed replays nothing.
    const late = { cust: newId(), orderId: newId(), phone: testPhone() };
    expect((await apiPost(shop, `/api/flows/${flow}/pause`)).status).toBe(200);
    await deliver(shop, 'orders/create', order(late.orderId, late.cust));
    expect((await apiPost(shop, `/api/flows/${flow}/activate`)).status).toBe(200);
    await deliver(shop, 'customers/create', customer(late.cust, late.phone, 'subscribed', iso(0)));
    await settleTriggers(shop.id);
    expect(await runsOf(flow)).toEqual([]);

    // The contacts exist and the recent orders are theirs (only the old one stays unlinked).
    const linked = await env.db.$queryRaw<{ order_id: string; linked: boolean }[]>`
      SELECT order_id, contact_id IS NOT NULL AS linked FROM shopify_orders WHERE shop_id = ${shop.id}::uuid ORDER BY order_id`;
    expect(Object.fromEntries(linked.map((r) => [r.order_id, r.linked]))).toEqual({
      [String(old.orderId)]: false,
      [String(never.orderId)]: true,
      [String(out.orderId)]: true,
      [String(late.orderId)]: true,
    });
  });
});
