import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { recordShopifyCheckout } from '../../domain/checkouts/record-checkout';
import { phoneHash } from '../../domain/contacts/phone';
import { syncShopifyCustomer } from '../../domain/contacts/sync-shopify-customer';
import { lockBuyerPhones } from '../../domain/orders/buyer-phone-lock';
import { lockShopifyCustomer } from '../../domain/orders/customer-lock';
import { checkShopifyBody } from '../../domain/webhooks/shopify-payloads';
import { createContact, createShop, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { deliverShopify, postShopify, rid, webhookEvent } from '../webhooks';
import { settleFlowTriggers } from '../flows/trigger-kit';

// An abandoned checkout finds its buyer by the same numbers, read by the same
// rule, as the order it would have become (domain/orders/buyer-phones.ts;
// test/links/phone-only-order-link for the order): the checkout's and the
// customer's number first, the billing then the shipping address's only when
// neither is valid, a national number read in its address's country. So a
// cart-recovery text reaches the buyer who typed their number the way their
// country writes it, or only on an address; an invalid number never hides a
// valid one; numbers naming two contacts link neither.

describe('an abandoned checkout whose buyer is known only by phone', () => {
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
  const newToken = () => `tok${randomUUID().replace(/-/g, '')}`;
  interface Address {
    phone: string | null;
    country_code: string;
  }
  /** Half an hour old and open; no email, as an SMS-first checkout has none. */
  const checkoutBody = (o: { phone?: string | null; customer?: { id: number; phone: string | null } | null; billing?: Address; shipping?: Address }) => {
    const token = newToken();
    const at = new Date(Date.now() - 30 * 60_000).toISOString();
    return {
      id: newId(),
      token,
      cart_token: 'cart',
      created_at: at,
      updated_at: at,
      completed_at: null,
      abandoned_checkout_url: `https://shop.example/checkouts/${token}/recover?key=k1`,
      phone: o.phone ?? null,
      customer: o.customer ?? null,
      ...(o.billing ? { billing_address: { first_name: 'Ada', address1: '1 Main St', city: 'Newark', ...o.billing } } : {}),
      ...(o.shipping ? { shipping_address: { first_name: 'Ada', address1: '1 Main St', city: 'Newark', ...o.shipping } } : {}),
      line_items: [{ title: 'Tee', quantity: 1 }],
      total_price: '42.50',
      currency: 'USD',
    };
  };
  /** +1973NNNNNNN as a US buyer types it: (973) NNN-NNNN. */
  const national = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;

  async function cartFlow(shop: ShopFixture): Promise<string> {
    const post = async (path: string, body: object = {}) =>
      request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body);
    const created = await post('/api/flows', { name: 'Cart', trigger: { type: 'checkout_abandoned' }, steps: [{ type: 'send', body: 'Still thinking? {{checkoutUrl}}' }] });
    expect(created.status).toBe(201);
    expect((await post(`/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return created.body.id as string;
  }

  const deliver = async (shop: ShopFixture, body: Record<string, unknown>, topic = 'checkouts/create') =>
    expect(await deliverShopify(app, env.db, topic, body, shop.domain)).toBe('processed');

  const stored = async (shop: ShopFixture, token: string) => {
    const [row] = await env.db.$queryRaw<{ contact_id: string | null; phone_e164: string | null; phone_hash: string | null }[]>`
      SELECT contact_id, phone_e164, phone_hash FROM shopify_checkouts WHERE shop_id = ${shop.id}::uuid AND token = ${token}`;
    if (!row) throw new Error(`checkout ${token} not stored in ${shop.domain}`);
    return row;
  };

  const settleTriggers = (shopId: string): Promise<void> => settleFlowTriggers(env.db, worker, shopId);

  const runsOf = async (flowId: string) =>
    (await env.db.$queryRaw<{ trigger_subject: string; contact_id: string }[]>`
      SELECT trigger_subject, contact_id FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY trigger_subject`).map((r) => [r.trigger_subject, r.contact_id]);

  it('is linked to the contact holding the number read as an order reads it, stored in E.164, and starts the abandoned-checkout flow', async () => {
    const shop = await createShop(env.db);
    const flowId = await cartFlow(shop);
    const contact = await createContact(env.db, shop.id, { phone: testPhone() });

    const bodies = [
      // The buyer typed their number the national way; the address says which nation.
      checkoutBody({ phone: national(contact.phone), shipping: { phone: null, country_code: 'US' } }),
      // No number of the buyer's own: the billing address's, national.
      checkoutBody({ billing: { phone: national(contact.phone), country_code: 'us' } }),
      // Only the shipping address has one (no billing number, no checkout or customer number).
      checkoutBody({ customer: { id: newId(), phone: null }, shipping: { phone: national(contact.phone), country_code: 'US' } }),
      // Not a number in the checkout's phone: the customer record's valid one is read (a customer never synced here).
      checkoutBody({ phone: 'call me', customer: { id: newId(), phone: contact.phone } }),
    ];
    for (const k of bodies) await deliver(shop, k);

    for (const k of bodies) expect(await stored(shop, k.token)).toEqual({ contact_id: contact.id, phone_e164: contact.phone, phone_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    await settleTriggers(shop.id);
    expect(await runsOf(flowId)).toEqual(bodies.map((k) => [k.token, contact.id]).sort((a, b) => a[0]!.localeCompare(b[0]!)));

    // The stored body keeps the numbers it read, in E.164, and nothing else of the addresses; still a checkout body.
    const payloads = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'checkouts/create' ORDER BY received_at`;
    expect(payloads.map((p) => p.payload)).toEqual([
      expect.objectContaining({ token: bodies[0]!.token, phone: contact.phone, customer: null }),
      expect.objectContaining({ token: bodies[1]!.token, phone: null, customer: null, billing_address: { phone: contact.phone } }),
      expect.objectContaining({ token: bodies[2]!.token, phone: null, customer: { id: String(bodies[2]!.customer!.id), phone: null }, shipping_address: { phone: contact.phone } }),
      expect.objectContaining({ token: bodies[3]!.token, phone: null, customer: { id: String(bodies[3]!.customer!.id), phone: contact.phone } }),
    ]);
    for (const { payload } of payloads) {
      expect(JSON.stringify(payload)).not.toContain('Main St');
      expect(JSON.stringify(payload)).not.toContain('call me');
      expect(checkShopifyBody('checkouts/create', payload)).toMatchObject({ known: true, valid: true });
    }
  });

  it('is linked to nobody, and starts nothing, when its numbers name two contacts or none is valid; a gift recipient is not the buyer', async () => {
    const shop = await createShop(env.db);
    const flowId = await cartFlow(shop);
    const a = await createContact(env.db, shop.id, { phone: testPhone() });
    const b = await createContact(env.db, shop.id, { phone: testPhone() });

    const unlinked = [
      // The checkout's number is one contact's, the customer record's another's: nothing says whose cart it is.
      checkoutBody({ phone: a.phone, customer: { id: newId(), phone: b.phone } }),
      // The billing address one contact's, the shipping address another's.
      checkoutBody({ billing: { phone: a.phone, country_code: 'US' }, shipping: { phone: national(b.phone), country_code: 'US' } }),
      // Written without its country and no address to tell it.
      checkoutBody({ phone: national(a.phone) }),
      // The buyer gave a number of their own (no contact): the shipping address's, a gift's recipient, is not read.
      checkoutBody({ phone: testPhone(), shipping: { phone: b.phone, country_code: 'US' } }),
    ];
    for (const k of unlinked) await deliver(shop, k);

    for (const k of unlinked) expect((await stored(shop, k.token)).contact_id).toBeNull();
    // What is stored is the most trusted number read, or none.
    expect((await stored(shop, unlinked[0]!.token)).phone_e164).toBe(a.phone);
    expect((await stored(shop, unlinked[1]!.token)).phone_e164).toBe(a.phone);
    expect(await stored(shop, unlinked[2]!.token)).toEqual({ contact_id: null, phone_e164: null, phone_hash: null });
    await settleTriggers(shop.id);
    expect(await runsOf(flowId)).toEqual([]);
  });

  it("is not linked by phone to another Shopify customer's contact, and starts nothing for it", async () => {
    const shop = await createShop(env.db);
    const flowId = await cartFlow(shop);
    const theirs = await createContact(env.db, shop.id, { phone: testPhone() });
    await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(newId())} WHERE id = ${theirs.id}::uuid`;

    // A cart of another customer (never synced here) carrying this contact's number.
    const others = [
      checkoutBody({ phone: theirs.phone, customer: { id: newId(), phone: null } }),
      checkoutBody({ customer: { id: newId(), phone: theirs.phone } }),
      checkoutBody({ customer: { id: newId(), phone: null }, shipping: { phone: national(theirs.phone), country_code: 'US' } }),
    ];
    // No customer at all: the number decides.
    const guest = checkoutBody({ phone: theirs.phone });
    for (const k of [...others, guest]) await deliver(shop, k);

    for (const k of others) expect((await stored(shop, k.token)).contact_id).toBeNull();
    expect((await stored(shop, guest.token)).contact_id).toBe(theirs.id);
    await settleTriggers(shop.id);
    expect(await runsOf(flowId)).toEqual([[guest.token, theirs.id]]);
  });

  it('is found by every number it was read with, not only the one stored: a data request, customers/redact and an erasure by its second number reach it', async () => {
    const shop = await createShop(env.db);
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const payer = testPhone();
    const recipient = testPhone();
    // No number of the buyer's own and no contact yet: both addresses' numbers read, the billing one stored.
    const k = checkoutBody({ billing: { phone: payer, country_code: 'US' }, shipping: { phone: national(recipient), country_code: 'US' } });
    const kept = checkoutBody({ billing: { phone: testPhone(), country_code: 'US' }, shipping: { phone: testPhone(), country_code: 'US' } });
    const k2 = checkoutBody({ billing: { phone: testPhone(), country_code: 'US' }, shipping: { phone: national(recipient), country_code: 'US' } });
    for (const b of [k, kept, k2]) await deliver(shop, b);
    expect(await stored(shop, k.token)).toEqual({ contact_id: null, phone_e164: payer, phone_hash: expect.any(String) });
    const tokens = async () => (await env.db.$queryRaw<{ token: string }[]>`SELECT token FROM shopify_checkouts WHERE shop_id = ${shop.id}::uuid ORDER BY token`).map((r) => r.token);

    // The data request of the number's customer lists both carts that carry it.
    await deliver(shop, { shop_id: 1, shop_domain: shop.domain, customer: { id: newId(), email: null, phone: recipient }, orders_requested: [], data_request: { id: 3 } }, 'customers/data_request');
    const list = await request(app).get('/api/privacy/requests').set('Authorization', auth);
    const detail = await request(app).get(`/api/privacy/requests/${list.body.data[0].id}`).set('Authorization', auth);
    expect((detail.body.data.checkouts as { token: string }[]).map((c) => c.token).sort()).toEqual([k.token, k2.token].sort());

    // The redact of that number takes the cart whose stored body it scrubs, not only that body.
    await deliver(shop, { shop_id: 1, shop_domain: shop.domain, customer: { id: null, email: null, phone: recipient }, orders_to_redact: [] }, 'customers/redact');
    expect(await tokens()).toEqual([kept.token]);

    // Erasing a contact that holds a cart's second number takes the cart too.
    const again = checkoutBody({ billing: { phone: testPhone(), country_code: 'US' }, shipping: { phone: national(recipient), country_code: 'US' } });
    await deliver(shop, again);
    const contact = await createContact(env.db, shop.id, { phone: recipient });
    expect((await request(app).delete(`/api/contacts/${contact.id}`).set('Authorization', auth).set('Idempotency-Key', randomUUID())).status).toBe(204);
    expect(await tokens()).toEqual([kept.token]);
  });

  /** A customers/create body: the customer subscribed to SMS with this number. */
  const customerBody = (id: number, phone: string) => {
    const at = new Date().toISOString();
    return { id, phone, email: null, first_name: 'Ada', last_name: 'Lovelace', updated_at: at, sms_marketing_consent: { state: 'subscribed', opt_in_level: 'single_opt_in', consent_updated_at: at } };
  };
  const contactOfCustomer = async (shop: ShopFixture, customerId: number) =>
    (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND shopify_customer_id = ${String(customerId)}`)[0]?.id;

  it('that came before its contact is linked when customers/create brings that contact, by customer id or by its number alone, and its flow starts then', async () => {
    const shop = await createShop(env.db);
    const flowId = await cartFlow(shop);
    const byNumber = { cust: newId(), phone: testPhone() };
    const byId = { cust: newId(), phone: testPhone() };
    const guest = checkoutBody({ billing: { phone: national(byNumber.phone), country_code: 'US' } });
    const customers = checkoutBody({ customer: { id: byId.cust, phone: null } });
    // Another customer's cart carrying the number, and one whose numbers another contact holds too: never linked so.
    const otherCustomer = checkoutBody({ phone: byNumber.phone, customer: { id: newId(), phone: null } });
    const gift = testPhone();
    const twoPeople = checkoutBody({ billing: { phone: byNumber.phone, country_code: 'US' }, shipping: { phone: gift, country_code: 'US' } });
    for (const k of [guest, customers, otherCustomer, twoPeople]) await deliver(shop, k);
    await settleTriggers(shop.id);
    expect(await runsOf(flowId)).toEqual([]);
    // The gift's recipient becomes a contact some other way (an import): it links nothing by itself.
    await createContact(env.db, shop.id, { phone: gift });

    await deliver(shop, customerBody(byNumber.cust, byNumber.phone), 'customers/create');
    await deliver(shop, customerBody(byId.cust, byId.phone), 'customers/create');
    await settleTriggers(shop.id);
    const a = await contactOfCustomer(shop, byNumber.cust);
    const b = await contactOfCustomer(shop, byId.cust);
    expect((await stored(shop, guest.token)).contact_id).toBe(a);
    expect((await stored(shop, customers.token)).contact_id).toBe(b);
    for (const k of [otherCustomer, twoPeople]) expect((await stored(shop, k.token)).contact_id).toBeNull();
    expect(await runsOf(flowId)).toEqual([[guest.token, a], [customers.token, b]].sort((x, y) => x[0]!.localeCompare(y[0]!)));

    // Redelivered: nothing more.
    await deliver(shop, customerBody(byNumber.cust, byNumber.phone), 'customers/update');
    await settleTriggers(shop.id);
    expect((await runsOf(flowId)).length).toBe(2);
  });

  it('stored while customers/create of its buyer is in flight, and the other way round, is still linked and its flow starts once', async () => {
    const shop = await createShop(env.db);
    const flowId = await cartFlow(shop);
    /** Runs `open` in a transaction kept open until the delivery started inside it is blocked on a lock or applied. */
    const whileOpen = async (open: (tx: Parameters<Parameters<TestEnv['db']['$transaction']>[0]>[0]) => Promise<void>, topic: string, body: Record<string, unknown>) => {
      const hook = rid('wh');
      let delivered: Promise<unknown> | undefined;
      await env.db.$transaction(async (tx) => {
        await open(tx);
        delivered = (async () => {
          expect((await postShopify(app, topic, body, { shopDomain: shop.domain, webhookId: hook })).status).toBe(200);
          let status = '';
          await waitFor(`${topic} settled`, async () => (status = (await webhookEvent(env.db, 'shopify', hook))?.status ?? 'gone') !== 'received');
          return status;
        })();
        await waitFor('the delivery blocked or applied', async () => {
          const [w] = await env.db.$queryRaw<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
          return w!.n > 0 || ((await webhookEvent(env.db, 'shopify', hook))?.status ?? 'received') !== 'received';
        });
      });
      expect(await delivered).toBe('processed');
    };
    const checkoutInput = (k: ReturnType<typeof checkoutBody>, phone: string) => ({
      shopId: shop.id, token: k.token, customerId: null, phones: [phone], abandonedCheckoutUrl: k.abandoned_checkout_url, updatedAt: new Date(k.updated_at), completedAt: null,
    });

    // The checkout's transaction still open when customers/create comes in.
    const a = { cust: newId(), phone: testPhone() };
    const ka = checkoutBody({ phone: a.phone });
    await whileOpen(async (tx) => {
      await lockBuyerPhones(tx, shop.id, [phoneHash(a.phone)]);
      expect(await recordShopifyCheckout(tx, checkoutInput(ka, a.phone))).toBe('stored');
    }, 'customers/create', customerBody(a.cust, a.phone));

    // customers/create's transaction still open when the checkout comes in.
    const b = { cust: newId(), phone: testPhone() };
    const kb = checkoutBody({ phone: b.phone });
    await whileOpen(async (tx) => {
      await lockShopifyCustomer(tx, shop.id, String(b.cust));
      await lockBuyerPhones(tx, shop.id, [phoneHash(b.phone)]);
      await syncShopifyCustomer(tx, { shopId: shop.id, customerId: String(b.cust), phone: b.phone, consent: 'subscribed', updatedAt: new Date() });
    }, 'checkouts/create', kb);

    await settleTriggers(shop.id);
    const ca = await contactOfCustomer(shop, a.cust);
    const cb = await contactOfCustomer(shop, b.cust);
    expect((await stored(shop, ka.token)).contact_id).toBe(ca);
    expect((await stored(shop, kb.token)).contact_id).toBe(cb);
    expect(await runsOf(flowId)).toEqual([[ka.token, ca], [kb.token, cb]].sort((x, y) => x[0]!.localeCompare(y[0]!)));
  });

  it('customers/redact by the number it was linked by deletes the checkout and scrubs its stored payload', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: testPhone() });
    const k = checkoutBody({ billing: { phone: national(contact.phone), country_code: 'US' } });
    await deliver(shop, k);
    expect((await stored(shop, k.token)).contact_id).toBe(contact.id);

    await deliver(shop, { shop_id: 1, shop_domain: shop.domain, customer: { id: null, email: null, phone: contact.phone }, orders_to_redact: [] }, 'customers/redact');
    const [left] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM shopify_checkouts WHERE shop_id = ${shop.id}::uuid`;
    expect(left!.n).toBe(0);
    const payloads = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'checkouts/create'`;
    expect(payloads.map((p) => p.payload)).toEqual([{ redacted: true }]);
  });
});
