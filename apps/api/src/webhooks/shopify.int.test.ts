import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { phoneHmac } from '../../../../domain/compliance/suppressions';
import { phoneHash } from '../../../../domain/contacts/phone';
import { reserveCredits } from '../../../../domain/credits/reservations';
import { replayWebhookEvent } from '../../../../domain/webhooks/replay-event';
import { signShopifyBody } from '../../../../domain/webhooks/verify-shopify-hmac';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createContact, createContactImport, createShop, testPhone } from '../../../../test/factories';
import { waitFor } from '../../../../test/sending';
import { sessionToken } from '../../../../test/session-token';
import { tableFingerprints } from '../../../../test/table-fingerprints';
import {
  counterValue,
  deliverShopify,
  findEverywhere,
  postShopify,
  postSimulator,
  postStripe,
  rid,
  rowsMentioning,
  sessionObject,
  stripeEvent,
  wallet,
  webhookEvent,
} from '../../../../test/webhooks';
import type { ApiDeps } from '../deps';

describe('POST /webhooks/shopify', () => {
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;

  beforeAll(async () => {
    // A short shop memory, so the uninstall test sees it run out quickly.
    env = await createTestEnv({ SHOP_CACHE_TTL_MS: '200' });
    ({ app, deps: api } = await env.api());
    // maintenance: shop/redact's erasure job.
    await env.worker({ queues: ['webhooks', 'maintenance'] });
  });
  afterAll(async () => {
    await env.close();
  });

  const deliver = (topic: string, body: Record<string, unknown>, shopDomain: string): Promise<string> => deliverShopify(app, env.db, topic, body, shopDomain);

  const iso = (offsetSec: number): string => new Date(Date.now() + offsetSec * 1000).toISOString();
  let customerSeq = 1000;
  const customerId = (): number => Date.now() * 100 + customerSeq++;

  async function contactOf(shopId: string, shopifyCustomerId: number | string) {
    const [row] = await env.db.$queryRaw<
      { phone_e164: string | null; email: string | null; first_name: string | null; last_name: string | null; sms_consent: string; opted_out_at: Date | null; opt_out_source: string | null }[]
    >`SELECT phone_e164, email, first_name, last_name, sms_consent, opted_out_at, opt_out_source FROM contacts
       WHERE shop_id = ${shopId}::uuid AND shopify_customer_id = ${String(shopifyCustomerId)}`;
    return row;
  }

  describe('verification', () => {
    it('accepts a valid HMAC and refuses a flipped byte, a missing or malformed header, storing nothing', async () => {
      const shop = await createShop(env.db);
      const body = JSON.stringify({ id: customerId(), phone: testPhone(), updated_at: iso(0) });
      const webhookId = rid('wh');
      const ok = await postShopify(app, 'customers/update', body, { shopDomain: shop.domain, webhookId });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ received: true });
      await waitFor('the valid event processed', async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status === 'processed');

      const before = await tableFingerprints(env.db);
      const invalidBefore = await counterValue(api.metrics, 'webhookEvents', { source: 'shopify', outcome: 'invalid_signature' });
      const signature = signShopifyBody(env.config.SHOPIFY_API_SECRET, body);
      const flipped = Buffer.from(body);
      flipped[10] = flipped[10]! ^ 0x01;
      const results = await Promise.all([
        postShopify(app, 'customers/update', flipped.toString('latin1'), { shopDomain: shop.domain, hmac: signature }),
        postShopify(app, 'customers/update', body, { shopDomain: shop.domain, hmac: '' }),
        postShopify(app, 'customers/update', body, { shopDomain: shop.domain, hmac: signature.slice(0, -4) }),
        postShopify(app, 'customers/update', body, { shopDomain: shop.domain, secret: 'another-app-secret' }),
      ]);
      for (const res of results) {
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('INVALID_SIGNATURE');
      }
      expect(await tableFingerprints(env.db)).toEqual(before);
      expect((await counterValue(api.metrics, 'webhookEvents', { source: 'shopify', outcome: 'invalid_signature' })) - invalidBefore).toBe(4);
    });

    it('a replayed webhook id is a duplicate', async () => {
      const shop = await createShop(env.db);
      const body = { id: customerId(), phone: testPhone(), updated_at: iso(0) };
      const first = await postShopify(app, 'customers/create', body, { shopDomain: shop.domain, webhookId: 'wh-dup-1' });
      const again = await postShopify(app, 'customers/create', body, { shopDomain: shop.domain, webhookId: 'wh-dup-1' });
      expect(first.body).toEqual({ received: true });
      expect(again.body).toEqual({ duplicate: true });
    });

    it('a topic we do not act on is answered 200 and not stored (a stored copy would block the body under its real topic)', async () => {
      const shop = await createShop(env.db);
      // Earlier tests' events settle first, so the fingerprint sees only this request.
      await waitFor('earlier events settled', async () => {
        const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events WHERE status = 'received'`;
        return Number(row!.n) === 0;
      });
      const before = await tableFingerprints(env.db);
      const body = { id: customerId(), phone: testPhone(), updated_at: iso(0) };
      const res = await postShopify(app, 'products/update', body, { shopDomain: shop.domain });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ignored: true });
      expect(await tableFingerprints(env.db)).toEqual(before);
      // The same signed body under its real topic is then applied.
      expect((await postShopify(app, 'customers/create', body, { shopDomain: shop.domain })).body).toEqual({ received: true });
    });
  });

  describe('customer sync', () => {
    it('creates the contact, then the newest updated_at wins whatever the delivery order', async () => {
      const shop = await createShop(env.db);
      const id = customerId();
      const phone = testPhone();
      const consent = (state: string, at: string) => ({ state, opt_in_level: 'single_opt_in', consent_updated_at: at });
      // Delivered out of order: the update (t+20) arrives before the create (t+10).
      expect(
        await deliver('customers/update', { id, phone, email: 'new@example.test', first_name: 'Newer', last_name: 'Name', updated_at: iso(20), sms_marketing_consent: consent('subscribed', iso(20)) }, shop.domain),
      ).toBe('processed');
      expect(
        await deliver('customers/create', { id, phone, email: 'old@example.test', first_name: 'Older', last_name: 'Name', updated_at: iso(10), sms_marketing_consent: consent('not_subscribed', iso(10)) }, shop.domain),
      ).toBe('processed');
      expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: phone, email: 'new@example.test', first_name: 'Newer', sms_consent: 'subscribed', opted_out_at: null });

      // Marketing consent: unsubscribed records a Shopify opt-out; a later subscribe clears it.
      await deliver('customers_marketing_consent/update', { id, phone, sms_marketing_consent: consent('unsubscribed', iso(30)) }, shop.domain);
      expect(await contactOf(shop.id, id)).toMatchObject({ sms_consent: 'unsubscribed', opt_out_source: 'shopify', first_name: 'Newer' });
      await deliver('customers_marketing_consent/update', { id, phone, sms_marketing_consent: consent('subscribed', iso(40)) }, shop.domain);
      expect(await contactOf(shop.id, id)).toMatchObject({ sms_consent: 'subscribed', opted_out_at: null, opt_out_source: null });
      // An older consent event never overwrites newer state.
      await deliver('customers_marketing_consent/update', { id, phone, sms_marketing_consent: consent('unsubscribed', iso(35)) }, shop.domain);
      expect(await contactOf(shop.id, id)).toMatchObject({ sms_consent: 'subscribed', opted_out_at: null });
    });

    it('a late customers/update older than the merchant\'s newer consent decision applies its profile but not its consent', async () => {
      const shop = await createShop(env.db);
      const id = customerId();
      const phone = testPhone();
      const consent = (state: string, at: string) => ({ state, opt_in_level: 'single_opt_in', consent_updated_at: at });
      await deliver('customers/create', { id, phone, first_name: 'Pat', updated_at: iso(-600), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
      const contactId = (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND shopify_customer_id = ${String(id)}`)[0]!.id;

      // Now: the merchant withdraws the consent it holds (it has no evidence of it).
      const patch = await request(app).patch(`/api/contacts/${contactId}`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).send({ smsConsent: 'pending' });
      expect(patch.body.smsConsent).toBe('pending');

      // A customers/update Shopify wrote a minute BEFORE that decision, delivered late.
      await deliver('customers/update', { id, phone, first_name: 'Patricia', updated_at: iso(-60), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
      expect(await contactOf(shop.id, id)).toMatchObject({ first_name: 'Patricia', sms_consent: 'pending' });

      // A consent change Shopify makes after the decision is the newest: it applies.
      await deliver('customers/update', { id, phone, first_name: 'Patricia', updated_at: iso(5), sms_marketing_consent: consent('subscribed', iso(5)) }, shop.domain);
      expect(await contactOf(shop.id, id)).toMatchObject({ sms_consent: 'subscribed' });
    });

    it('the late echo of a write-back (unsubscribed at t1) does not undo the merchant\'s re-subscribe at t2 > t1', async () => {
      const shop = await createShop(env.db);
      const id = customerId();
      const phone = testPhone();
      const consent = (state: string, at: string) => ({ state, opt_in_level: 'single_opt_in', consent_updated_at: at });
      await deliver('customers/create', { id, phone, first_name: 'Lee', updated_at: iso(-600), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
      const contactId = (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND shopify_customer_id = ${String(id)}`)[0]!.id;
      const authz = `Bearer ${await sessionToken(shop.domain)}`;
      const unsub = await request(app).patch(`/api/contacts/${contactId}`).set('Authorization', authz).send({ smsConsent: 'unsubscribed' });
      const t1 = unsub.body.updatedAt as string;
      await new Promise((r) => setTimeout(r, 50));
      const resub = await request(app).patch(`/api/contacts/${contactId}`).set('Authorization', authz).send({ smsConsent: 'subscribed' });
      expect(resub.body.smsConsent).toBe('subscribed');

      // Shopify's webhook for the FIRST change (our write-back of t1) arrives after the second.
      await deliver('customers_marketing_consent/update', { id, phone, sms_marketing_consent: consent('unsubscribed', t1) }, shop.domain);
      expect(await contactOf(shop.id, id)).toMatchObject({ sms_consent: 'subscribed', opted_out_at: null });
      const records = await env.db.$queryRaw<{ state: string; source: string }[]>`
        SELECT state, source FROM contact_consent_records WHERE contact_id = ${contactId}::uuid ORDER BY id`;
      expect(records.map((r) => [r.state, r.source])).toEqual([
        ['subscribed', 'shopify'],
        ['unsubscribed', 'api'],
        ['subscribed', 'api'],
      ]);
    });

    it('links an existing contact by phone, and never clears a keyword opt-out', async () => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      await createContact(env.db, shop.id, { phone, optedOut: true, consent: 'unsubscribed' });
      const id = customerId();
      await deliver('customers/update', { id, phone, first_name: 'Linked', updated_at: iso(0), sms_marketing_consent: { state: 'subscribed', consent_updated_at: iso(0) } }, shop.domain);
      expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: phone, first_name: 'Linked', sms_consent: 'unsubscribed', opt_out_source: 'keyword' });
    });

    describe('a customers/update moving the contact to a new phone', () => {
      const consent = (state: string, at: string) => ({ state, opt_in_level: 'single_opt_in', consent_updated_at: at });
      const suppressed = async (phone: string) =>
        env.db.$queryRaw<{ scope: string }[]>`SELECT scope FROM sms_suppressions WHERE phone_hmac = ${phoneHmac(env.config.PHONE_HASH_KEY, phone)} ORDER BY scope`;

      it('without consent data for the new number, the new number is not subscribed (the old number\'s consent does not carry over)', async () => {
        const shop = await createShop(env.db);
        const id = customerId();
        const [a, b] = [testPhone(), testPhone()];
        await deliver('customers/create', { id, phone: a, first_name: 'Ana', updated_at: iso(-600), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
        expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: a, sms_consent: 'subscribed' });

        await deliver('customers/update', { id, phone: b, first_name: 'Ana', updated_at: iso(-500) }, shop.domain);
        expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: b, sms_consent: 'pending', opted_out_at: null });

        // Shopify's consent given for the new number, in a later update, applies.
        await deliver('customers/update', { id, phone: b, updated_at: iso(-400), sms_marketing_consent: consent('subscribed', iso(-400)) }, shop.domain);
        expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: b, sms_consent: 'subscribed' });
      });

      it('after a STOP: the old number stays suppressed; Shopify\'s consent older than the STOP is not the new number\'s, a newer one is', async () => {
        const sender = `1202${String(Date.now()).slice(-7)}`;
        const shop = await createShop(env.db, { senderId: sender });
        const id = customerId();
        const [a, b] = [testPhone(), testPhone()];
        await deliver('customers/create', { id, phone: a, updated_at: iso(-600), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
        await postSimulator(app, 'inbound', { id: rid('in'), from: a, to: sender, text: 'STOP', timestamp: iso(-300) });
        expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: a, sms_consent: 'unsubscribed', opt_out_source: 'keyword' });

        // Shopify still holds the consent it had for the old number (collected before the STOP).
        await deliver('customers/update', { id, phone: b, updated_at: iso(-200), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
        expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: b, sms_consent: 'pending', opted_out_at: null });
        expect(await suppressed(a)).toEqual([{ scope: `shop:${shop.id}` }]);
        expect(await suppressed(b)).toEqual([]);

        // Consent Shopify collected after the STOP, for the number it now holds, is the new number's own.
        await deliver('customers/update', { id, phone: b, updated_at: iso(-100), sms_marketing_consent: consent('subscribed', iso(-100)) }, shop.domain);
        expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: b, sms_consent: 'subscribed' });
        expect(await suppressed(a)).toEqual([{ scope: `shop:${shop.id}` }]);
      });

      it('an opt-out the merchant recorded stays with the old number (kept as a suppression), not with the contact', async () => {
        const shop = await createShop(env.db);
        const id = customerId();
        const [a, b] = [testPhone(), testPhone()];
        await deliver('customers/create', { id, phone: a, updated_at: iso(-600), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
        const contactId = (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND shopify_customer_id = ${String(id)}`)[0]!.id;
        const unsub = await request(app).patch(`/api/contacts/${contactId}`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).send({ smsConsent: 'unsubscribed' });
        expect(unsub.body.smsConsent).toBe('unsubscribed');

        await deliver('customers/update', { id, phone: b, updated_at: iso(5), sms_marketing_consent: consent('subscribed', iso(-600)) }, shop.domain);
        expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: b, sms_consent: 'pending', opted_out_at: null });
        expect(await suppressed(a)).toEqual([{ scope: `shop:${shop.id}` }]);
        // The old number added again later is still never texted by the shop (the send-time check skips it).
        const readded = await request(app).post('/api/contacts').set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).send({ phone: a, smsConsent: 'pending' });
        expect(readded.status).toBe(201);
        expect(await suppressed(a)).toEqual([{ scope: `shop:${shop.id}` }]);
      });
    });

    it('a time Postgres cannot store (year 0) is no time: the event is applied at its arrival instead of failing', async () => {
      const shop = await createShop(env.db);
      const id = customerId();
      const phone = testPhone();
      const year0 = '0000-01-01T00:00:00Z';
      expect(
        await deliver('customers/create', { id, phone, first_name: 'Odd', updated_at: year0, sms_marketing_consent: { state: 'subscribed', consent_updated_at: year0 } }, shop.domain),
      ).toBe('processed');
      expect(await contactOf(shop.id, id)).toMatchObject({ phone_e164: phone, first_name: 'Odd', sms_consent: 'subscribed' });
    });

    it('a customer without a phone we do not know is ignored', async () => {
      const shop = await createShop(env.db);
      expect(await deliver('customers/create', { id: customerId(), email: 'nophone@example.test', updated_at: iso(0) }, shop.domain)).toBe('ignored');
    });
  });

  describe('GDPR', () => {
    it('customers/data_request assembles what we hold for the merchant to read', async () => {
      const sender = `D${rid('x').slice(2, 10)}`;
      const shop = await createShop(env.db, { senderId: sender });
      const phone = testPhone();
      const id = customerId();
      await deliver('customers/create', { id, phone, email: 'dr@example.test', first_name: 'Dora', updated_at: iso(0), sms_marketing_consent: { state: 'subscribed' } }, shop.domain);
      await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'hi there', timestamp: iso(0) });

      await deliver('customers/data_request', { shop_id: 1, shop_domain: shop.domain, customer: { id, email: 'dr@example.test', phone }, orders_requested: [], data_request: { id: 77 } }, shop.domain);
      const token = `Bearer ${await sessionToken(shop.domain)}`;
      const list = await request(app).get('/api/privacy/requests').set('Authorization', token);
      expect(list.status).toBe(200);
      expect(list.body.data).toEqual([{ id: expect.any(String), kind: 'data_request', shopifyCustomerId: String(id), createdAt: expect.any(String) }]);
      expect(list.body.nextCursor).toBeNull();
      const detail = await request(app).get(`/api/privacy/requests/${list.body.data[0].id}`).set('Authorization', token);
      expect(detail.status).toBe(200);
      expect(detail.body.data).toMatchObject({
        shopifyCustomerId: String(id),
        shopifyDataRequestId: '77',
        contacts: [{ phone, email: 'dr@example.test', firstName: 'Dora', smsConsent: 'subscribed' }],
        inboundMessages: [{ from: phone, to: sender, text: 'hi there' }],
      });

      const other = await createShop(env.db);
      const foreign = await request(app).get(`/api/privacy/requests/${list.body.data[0].id}`).set('Authorization', `Bearer ${await sessionToken(other.domain)}`);
      expect(foreign.status).toBe(404);
    });

    it('customers/data_request exports the texts, keyword replies and checkout known only by the phone Shopify names, which no contact holds', async () => {
      const sender = `Q${rid('x').slice(2, 10)}`;
      const shop = await createShop(env.db, { senderId: sender });
      const phone = testPhone();
      // No contact holds the number: the shop has its text and its checkout all the same.
      expect((await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'where is my order?', timestamp: iso(0) })).status).toBe(200);
      expect((await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'HELP', timestamp: iso(1) })).status).toBe(200);
      const token = rid('tok');
      await env.db.$executeRaw`
        INSERT INTO shopify_checkouts (shop_id, token, phone_e164, phone_hash, abandoned_checkout_url, shopify_updated_at)
        VALUES (${shop.id}::uuid, ${token}, ${phone}, ${phoneHash(phone)}, 'https://x.example/recover', now())`;

      await deliver('customers/data_request', { shop_domain: shop.domain, customer: { id: customerId(), email: null, phone }, data_request: { id: 5 } }, shop.domain);
      const auth = `Bearer ${await sessionToken(shop.domain)}`;
      const list = await request(app).get('/api/privacy/requests').set('Authorization', auth);
      const detail = await request(app).get(`/api/privacy/requests/${list.body.data[0].id}`).set('Authorization', auth);
      expect(detail.status).toBe(200);
      const { contacts, inboundMessages, keywordReplies, checkouts } = detail.body.data;
      expect({ contacts, inboundMessages, keywordReplies, checkouts }).toEqual({
        contacts: [],
        inboundMessages: [expect.objectContaining({ from: phone, to: sender, text: 'where is my order?' }), expect.objectContaining({ from: phone, to: sender, text: 'HELP', keyword: 'HELP' })],
        keywordReplies: [expect.objectContaining({ keyword: 'HELP' })],
        checkouts: [expect.objectContaining({ token, phone })],
      });
    });

    it('customers/data_request exports the flow messages sent to the customer, with their flow', async () => {
      const shop = await createShop(env.db);
      const auth = `Bearer ${await sessionToken(shop.domain)}`;
      const created = await request(app).post('/api/flows').set('Authorization', auth).set('Idempotency-Key', randomUUID())
        .send({ name: 'Thanks for ordering', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks for your order!' }] });
      expect(created.status).toBe(201);
      const flowId: string = created.body.id;
      const versionId: string = created.body.currentVersion.id;
      expect((await request(app).post(`/api/flows/${flowId}/activate`).set('Authorization', auth).set('Idempotency-Key', randomUUID()).send({})).status).toBe(200);
      const id = customerId();
      const contact = await createContact(env.db, shop.id, { email: `${rid('fm')}@flow.example.test` });
      await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${String(id)} WHERE id = ${contact.id}::uuid`;
      const [run] = await env.db.$queryRaw<{ id: bigint }[]>`
        INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, current_step, ended_at)
        VALUES (${flowId}::uuid, ${versionId}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'order_created', 'o-1', now(), 'completed', 1, now())
        RETURNING id`;
      await env.db.$executeRaw`
        INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, segments, encoding, credits, provider_message_id, sent_at, final_at, delivered_at)
        VALUES (${run!.id}, 0, ${shop.id}::uuid, ${flowId}::uuid, ${versionId}::uuid, ${contact.id}::uuid, 'delivered', 1, 'GSM-7', 1, ${rid('pm')}, now(), now(), now())`;

      await deliver('customers/data_request', { shop_domain: shop.domain, customer: { id, email: null, phone: contact.phone }, data_request: { id: 6 } }, shop.domain);
      const list = await request(app).get('/api/privacy/requests').set('Authorization', auth);
      const detail = await request(app).get(`/api/privacy/requests/${list.body.data[0].id}`).set('Authorization', auth);
      expect(detail.status).toBe(200);
      expect(detail.body.data.flowMessages).toEqual([
        {
          contactId: contact.id,
          flowId,
          flowName: 'Thanks for ordering',
          step: 0,
          status: 'delivered',
          skipReason: null,
          segments: 1,
          sentAt: expect.any(String),
          deliveredAt: expect.any(String),
          finalAt: expect.any(String),
          errorCode: null,
        },
      ]);
    });

    it('customers/redact leaves none of the customer\'s phone, email or name in any column of any table', async () => {
      const sender = `R${rid('x').slice(2, 10)}`;
      const shop = await createShop(env.db, { senderId: sender });
      const phone = testPhone();
      const email = `${rid('zed')}@redact.example.test`;
      const first = `Zebulon${rid('f').slice(2, 8)}`;
      const last = `Quarrington${rid('l').slice(2, 8)}`;
      const id = customerId();
      const bystander = await createContact(env.db, shop.id, { firstName: 'Bystander' });

      await deliver('customers/create', { id, phone, email, first_name: first, last_name: last, updated_at: iso(0), sms_marketing_consent: { state: 'subscribed' } }, shop.domain);
      await deliver('customers/update', { id, phone, email, first_name: first, last_name: last, updated_at: iso(5) }, shop.domain);
      await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: `this is ${first} ${last}`, timestamp: iso(0) });
      await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'STOP', timestamp: iso(0) });
      await deliver('customers/data_request', { shop_domain: shop.domain, customer: { id, email, phone }, data_request: { id: 1 } }, shop.domain);
      // Places other lanes keep PII: an import's staged rows and a replayable API response.
      await createContactImport(env.db, shop.id, { rows: [{ phone, email, firstName: first, lastName: last }, { phone: bystander.phone, firstName: 'Bystander' }] });
      await env.db.$executeRaw`
        INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, status, locked_until, response_status, response_body, expires_at)
        VALUES (${shop.id}::uuid, 'POST', '/api/contacts', ${rid('k')}, 'f', 'completed', now(), 201, ${JSON.stringify({ phone, email, firstName: first })}::jsonb, now() + interval '1 day')`;
      const needles = [phone, phone.slice(1), email, first, last];
      expect((await findEverywhere(env.db, needles)).length).toBeGreaterThan(0);

      await deliver('customers/redact', { shop_id: 1, shop_domain: shop.domain, customer: { id, email, phone }, orders_to_redact: [] }, shop.domain);

      expect(await findEverywhere(env.db, needles)).toEqual([]);
      // The tombstone keeps the hash and the opt-out, so the number stays unreachable.
      const [tomb] = await env.db.$queryRaw<{ erased_at: Date | null; opted_out_at: Date | null; opt_out_source: string | null }[]>`
        SELECT erased_at, opted_out_at, opt_out_source FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
      expect(tomb!.erased_at).toBeInstanceOf(Date);
      expect(tomb!.opted_out_at).toBeInstanceOf(Date);
      expect(tomb!.opt_out_source).toBe('keyword');
      // Other customers are untouched.
      expect(await findEverywhere(env.db, [bystander.phone])).toEqual(expect.arrayContaining(['contacts.phone_e164 ∋ ' + bystander.phone, 'contact_import_rows.data ∋ ' + bystander.phone]));
      const kinds = await env.db.$queryRaw<{ kind: string }[]>`SELECT kind FROM privacy_requests WHERE shop_id = ${shop.id}::uuid ORDER BY created_at`;
      expect(kinds.map((k) => k.kind)).toEqual(['data_request', 'customer_redact']);
    });

    it("customers/redact closes the customer's events still open as ignored (their bodies are gone), and leaves processed ones as they were", async () => {
      const shop = await createShop(env.db);
      const id = customerId();
      const phone = testPhone();
      await deliver('customers/create', { id, phone, email: null, first_name: 'Ada', last_name: null, updated_at: iso(0), sms_marketing_consent: { state: 'subscribed' } }, shop.domain);
      // A delivery of the same customer waiting for a retry, and one never picked up yet.
      const open = [rid('wh'), rid('wh')];
      for (const [i, eventId] of open.entries()) {
        await env.db.$executeRaw`
          INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload, status, attempts, last_error, next_attempt_at)
          VALUES ('shopify', ${eventId}, 'customers/update', ${shop.id}::uuid,
                  ${JSON.stringify({ id, phone, updated_at: iso(5 + i) })}::jsonb, ${i === 0 ? 'failed' : 'received'}, ${i}::int, ${i === 0 ? 'timeout' : null}, now() + interval '1 minute')`;
      }
      await deliver('customers/redact', { shop_id: 1, shop_domain: shop.domain, customer: { id, email: null, phone }, orders_to_redact: [] }, shop.domain);

      const rows = await env.db.$queryRaw<{ event_id: string; topic: string; status: string; payload: unknown; last_error: string | null; next_attempt_at: Date | null }[]>`
        SELECT event_id, topic, status, payload, last_error, next_attempt_at FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid`;
      const byTopic = (topic: string) => rows.filter((r) => r.topic === topic).map(({ status, payload, last_error, next_attempt_at }) => ({ status, payload, last_error, next_attempt_at }));
      expect(byTopic('customers/update')).toEqual(
        open.map(() => ({ status: 'ignored', payload: { redacted: true }, last_error: 'redacted before it was processed', next_attempt_at: null })),
      );
      expect(byTopic('customers/create')).toEqual([{ status: 'processed', payload: { redacted: true }, last_error: null, next_attempt_at: null }]);
      expect(byTopic('customers/redact')).toEqual([expect.objectContaining({ status: 'processed', payload: { redacted: true } })]);
    });

    it('an event whose body customers/redact erased, replayed by hand, ends ignored at once instead of failing every retry', async () => {
      const shop = await createShop(env.db);
      const id = customerId();
      const phone = testPhone();
      const created = rid('wh');
      await postShopify(app, 'customers/create', { id, phone, first_name: 'Ada', updated_at: iso(0), sms_marketing_consent: { state: 'subscribed' } }, { shopDomain: shop.domain, webhookId: created });
      await waitFor('customers/create processed', async () => (await webhookEvent(env.db, 'shopify', created))?.status === 'processed');
      const redact = rid('wh');
      await postShopify(app, 'customers/redact', { shop_id: 1, shop_domain: shop.domain, customer: { id, email: null, phone }, orders_to_redact: [] }, { shopDomain: shop.domain, webhookId: redact });
      await waitFor('customers/redact processed', async () => (await webhookEvent(env.db, 'shopify', redact))?.status === 'processed');

      for (const webhookId of [created, redact]) {
        const event = (await webhookEvent(env.db, 'shopify', webhookId))!;
        expect(await replayWebhookEvent(api, event.id)).toBe('requeued');
        // Its first attempt settles it: no retries with backoff on a body no schema accepts, no `failed` row to alert on.
        await waitFor(`replayed ${webhookId} settled`, async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status !== 'received', 5_000);
        expect(await webhookEvent(env.db, 'shopify', webhookId)).toMatchObject({ status: 'ignored', attempts: 1, last_error: null });
      }
      const [contact] = await env.db.$queryRaw<{ phone_e164: string | null; first_name: string | null }[]>`
        SELECT phone_e164, first_name FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
      expect(contact).toEqual({ phone_e164: null, first_name: null });
    });

    it('shop/redact leaves no row of the shop in any table', async () => {
      const sender = `X${rid('x').slice(2, 10)}`;
      // Two shops sharing a sender neither owns: a STOP to it binds both.
      const shop = await createShop(env.db, { senderId: sender, ownsSender: false, credits: 50 });
      const keep = await createShop(env.db, { senderId: sender, ownsSender: false });
      const phone = testPhone();
      const contact = await createContact(env.db, shop.id, { phone });
      await createContact(env.db, keep.id, { phone });
      const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
      const pmid = rid('msg');
      await env.db.$executeRaw`
        INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
        VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sent', ${pmid}, 1, now())`;
      await env.db.$executeRaw`INSERT INTO outbox_events (event_type, aggregate_id, payload) VALUES ('campaign.completed.v1', ${campaign.id}, ${JSON.stringify({ campaignId: campaign.id, shopId: shop.id })}::jsonb)`;
      await env.db.$executeRaw`INSERT INTO stripe_customers (shop_id, stripe_customer_id) VALUES (${shop.id}::uuid, ${rid('cus')})`;
      const sessionId = rid('cs_test');
      await env.db.$executeRaw`
        INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency) VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 10, 100, 'usd')`;
      await postStripe(app, stripeEvent('checkout.session.completed', sessionObject(sessionId, { shopId: shop.id })));
      await postSimulator(app, 'status', { id: pmid, status: 'delivered', timestamp: iso(0) });
      await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'STOP', timestamp: iso(0) });
      await deliver('customers/create', { id: customerId(), phone: testPhone(), updated_at: iso(0) }, shop.domain);
      await waitFor('stripe and status events processed', async () => {
        const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events WHERE status = 'received'`;
        return Number(row!.n) === 0;
      });
      expect((await rowsMentioning(env.db, [shop.id])).length).toBeGreaterThan(5);

      expect(await deliver('shop/redact', { shop_id: 123, shop_domain: shop.domain }, shop.domain)).toBe('gone');
      await waitFor('the erasure job deleted the shop', async () => (await env.db.$queryRaw<unknown[]>`SELECT 1 FROM shops WHERE id = ${shop.id}::uuid`).length === 0);
      expect(await rowsMentioning(env.db, [shop.id, shop.domain])).toEqual([]);
      // The other shop sharing the sender keeps its rows, opt-out included.
      const [kept] = await env.db.$queryRaw<{ opt_out_source: string | null }[]>`
        SELECT opt_out_source FROM contacts WHERE shop_id = ${keep.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
      expect(kept!.opt_out_source).toBe('keyword');
    });

    it('shop/redact of a shop installed again after its first erasure erases it again (the same body, byte for byte)', async () => {
      const shop = await createShop(env.db);
      // Shopify's shop/redact body is exactly {shop_id, shop_domain}: the same bytes every time for one shop.
      const body = { shop_id: 4242, shop_domain: shop.domain };
      expect(await deliver('shop/redact', body, shop.domain)).toBe('gone');
      await waitFor('the first erasure deleted the shop', async () => (await env.db.$queryRaw<unknown[]>`SELECT 1 FROM shops WHERE id = ${shop.id}::uuid`).length === 0);

      // Months later the merchant installs the app again, adds a contact, uninstalls: 48 h on, Shopify sends shop/redact again.
      const again = await createShop(env.db, { domain: shop.domain });
      const contact = await createContact(env.db, again.id);
      const webhookId = rid('wh');
      expect((await postShopify(app, 'shop/redact', body, { shopDomain: shop.domain, webhookId })).body).toEqual({ received: true });
      await waitFor('the second erasure deleted the shop', async () => (await env.db.$queryRaw<unknown[]>`SELECT 1 FROM shops WHERE id = ${again.id}::uuid`).length === 0);
      expect(await rowsMentioning(env.db, [again.id, contact.id, shop.domain])).toEqual([]);
    });
  });

  describe('app/uninstalled', () => {
    it('cancels a sending campaign, releases its reservation, and the shop\'s session tokens get 401', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      const token = `Bearer ${await sessionToken(shop.domain)}`;
      expect((await request(app).get('/api/shop').set('Authorization', token)).status).toBe(200);

      const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
      const draft = await createCampaign(env.db, shop.id);
      for (let i = 0; i < 3; i++) {
        const c = await createContact(env.db, shop.id);
        await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${campaign.id}::uuid, ${c.id}::uuid, 0)`;
      }
      await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: campaign.id, reservationKey: `campaign-${campaign.id}`, amount: 30 }));
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 100, reserved: 30 });

      expect(await deliver('app/uninstalled', { id: 1, domain: shop.domain, myshopify_domain: shop.domain }, shop.domain)).toBe('processed');

      const campaigns = await env.db.$queryRaw<{ id: string; status: string }[]>`SELECT id, status FROM campaigns WHERE shop_id = ${shop.id}::uuid`;
      expect(Object.fromEntries(campaigns.map((c) => [c.id, c.status]))).toEqual({ [campaign.id]: 'cancelled', [draft.id]: 'cancelled' });
      const recipients = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid`;
      expect(recipients.map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 100, reserved: 0 });
      const [reservation] = await env.db.$queryRaw<{ status: string; released: bigint }[]>`
        SELECT status, released FROM credit_reservations WHERE campaign_id = ${campaign.id}::uuid`;
      expect(reservation).toEqual({ status: 'closed', released: 30n });
      const [row] = await env.db.$queryRaw<{ status: string; uninstalled_at: Date | null }[]>`SELECT status, uninstalled_at FROM shops WHERE id = ${shop.id}::uuid`;
      expect(row!.status).toBe('uninstalled');
      expect(row!.uninstalled_at).toBeInstanceOf(Date);

      // An api process may have read the shop just before: it sees the uninstall once SHOP_CACHE_TTL_MS ran out.
      await new Promise((r) => setTimeout(r, env.config.SHOP_CACHE_TTL_MS + 50));
      const after = await request(app).get('/api/shop').set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
      expect(after.status).toBe(401);
      expect(after.body.error.code).toBe('UNAUTHENTICATED');
    });

    it('an uninstall processed again after the shop re-installed (a replay, a late retry) leaves the new installation alone', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      const webhookId = rid('wh');
      const body = { id: 1, domain: shop.domain, myshopify_domain: shop.domain };
      expect((await postShopify(app, 'app/uninstalled', body, { shopDomain: shop.domain, webhookId })).status).toBe(200);
      await waitFor('uninstall processed', async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status === 'processed');
      const shopRow = async () => (await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shops WHERE id = ${shop.id}::uuid`)[0]!.status;
      expect(await shopRow()).toBe('uninstalled');

      // The merchant installs the app again: its token exchange re-activates the shop (exchange-token.ts).
      await new Promise((r) => setTimeout(r, 20));
      await env.db.$executeRaw`UPDATE shops SET status = 'active', uninstalled_at = NULL, installed_at = now(), updated_at = now() WHERE id = ${shop.id}::uuid`;
      const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
      await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: campaign.id, reservationKey: `campaign-${campaign.id}`, amount: 30 }));

      // The on-call replays the old event (or its job ran late): it belongs to the installation that ended.
      const event = (await webhookEvent(env.db, 'shopify', webhookId))!;
      expect(await replayWebhookEvent(api, event.id)).toBe('requeued');
      await waitFor('replayed uninstall settled', async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status !== 'received');
      expect((await webhookEvent(env.db, 'shopify', webhookId))!.status).toBe('ignored');
      expect(await shopRow()).toBe('active');
      const [c] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${campaign.id}::uuid`;
      expect(c!.status).toBe('sending');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 100, reserved: 30 });
    });
  });
});
