import type { Express } from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { applyInboundKeyword } from '../../../../domain/compliance/apply-inbound-keyword';
import { phoneHmac, shopScope } from '../../../../domain/compliance/suppressions';
import { createContact as createContactApi } from '../../../../domain/contacts/create-contact';
import { importContacts } from '../../../../domain/contacts/import-contacts';
import { phoneHash } from '../../../../domain/contacts/phone';
import { syncShopifyCustomer } from '../../../../domain/contacts/sync-shopify-customer';
import { updateContact } from '../../../../domain/contacts/update-contact';
import { createContactImport, createShop, testPhone } from '../../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { waitFor } from '../../../../test/sending';
import { sessionToken } from '../../../../test/session-token';
import { postShopify, postSimulator, rid, webhookEvent } from '../../../../test/webhooks';

interface RecordRow {
  id: bigint;
  state: string;
  source: string;
  collected_at: Date;
  evidence: Record<string, unknown>;
}

describe('consent record', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    // maintenance: shop/redact's erasure job.
    await env.worker({ queues: ['webhooks', 'maintenance'] });
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (domain: string) => `Bearer ${await sessionToken(domain)}`;
  const recordsOf = (contactId: string) =>
    env.db.$queryRaw<RecordRow[]>`
      SELECT id, state, source, collected_at, evidence FROM contact_consent_records WHERE contact_id = ${contactId}::uuid ORDER BY id`;
  const contactIdOf = async (shopId: string, phone: string): Promise<string> => {
    const [row] = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shopId}::uuid AND phone_hash = ${phoneHash(phone)}`;
    return row!.id;
  };

  async function deliverShopify(topic: string, body: Record<string, unknown>, shopDomain: string, webhookId = rid('wh')): Promise<void> {
    const res = await postShopify(app, topic, body, { shopDomain, webhookId });
    expect(res.status).toBe(200);
    await waitFor(`${topic} settled`, async () => ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
  }

  describe('one record per change, with its evidence', () => {
    it('api: POST records the first state with the request id, PATCH records a change, a no-op PATCH records nothing', async () => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      const created = await request(app).post('/api/contacts').set('Authorization', await auth(shop.domain)).set('X-Request-Id', 'req-consent-1').send({ phone, smsConsent: 'subscribed' });
      expect(created.status).toBe(201);
      const id = String(created.body.id);
      let recs = await recordsOf(id);
      expect(recs).toEqual([expect.objectContaining({ state: 'subscribed', source: 'api', evidence: { requestId: 'req-consent-1' } })]);

      const patch = (body: object, requestId: string) =>
        auth(shop.domain).then((a) => request(app).patch(`/api/contacts/${id}`).set('Authorization', a).set('X-Request-Id', requestId).send(body));
      expect((await patch({ smsConsent: 'unsubscribed' }, 'req-consent-2')).status).toBe(200);
      expect((await patch({ smsConsent: 'unsubscribed' }, 'req-consent-3')).status).toBe(200);
      expect((await patch({ firstName: 'Ada' }, 'req-consent-4')).status).toBe(200);
      // Re-posting the same number with the same consent is an upsert that changes no state.
      expect((await request(app).post('/api/contacts').set('Authorization', await auth(shop.domain)).send({ phone, firstName: 'Ada' })).status).toBe(200);
      recs = await recordsOf(id);
      expect(recs.map((r) => [r.state, r.source, r.evidence.requestId])).toEqual([
        ['subscribed', 'api', 'req-consent-1'],
        ['unsubscribed', 'api', 'req-consent-2'],
      ]);
    });

    it('import: one record per changed contact naming the import and its row; a re-run of the import writes nothing', async () => {
      const shop = await createShop(env.db);
      const [a, b, c, d] = [testPhone(), testPhone(), testPhone(), testPhone()];
      await createContactApi(env.db, shop.id, { phoneE164: c, phoneHash: phoneHash(c), smsConsent: 'subscribed' });
      const imp = await createContactImport(env.db, shop.id, {
        rows: [
          { phone: a, smsConsent: 'subscribed' },
          { phone: b },
          { phone: c, smsConsent: 'subscribed' },
          { phone: 'nope' },
          { phone: b, smsConsent: 'unsubscribed' },
          { phone: d, smsConsent: 'subscribed' },
          { phone: d, firstName: 'Ada' },
        ],
      });
      await importContacts(env.db, { importId: imp.id });
      const recA = await recordsOf(await contactIdOf(shop.id, a));
      const recB = await recordsOf(await contactIdOf(shop.id, b));
      const recC = await recordsOf(await contactIdOf(shop.id, c));
      expect(recA).toEqual([expect.objectContaining({ state: 'subscribed', source: 'import', evidence: { importId: imp.id, row: 0 } })]);
      // Rows 1 and 4 carry one number: one upsert, recorded with the row that decided it.
      expect(recB).toEqual([expect.objectContaining({ state: 'unsubscribed', source: 'import', evidence: { importId: imp.id, row: 4 } })]);
      // Already subscribed: the import changed nothing.
      expect(recC.map((r) => r.source)).toEqual(['api']);
      // A later row of the number without consent did not decide it: the row that subscribed is named.
      expect(await recordsOf(await contactIdOf(shop.id, d))).toEqual([expect.objectContaining({ state: 'subscribed', source: 'import', evidence: { importId: imp.id, row: 5 } })]);

      const before = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_consent_records WHERE shop_id = ${shop.id}::uuid`;
      await importContacts(env.db, { importId: imp.id });
      const after = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_consent_records WHERE shop_id = ${shop.id}::uuid`;
      expect(after[0]!.n).toBe(before[0]!.n);
    });

    it('import: a chunk writes its records set-based, inside the statement that upserts the chunk', async () => {
      const shop = await createShop(env.db);
      const rows = Array.from({ length: 1200 }, (_, i) => ({ phone: `+1201${String(5_000_000 + i)}`, smsConsent: i % 2 === 0 ? 'subscribed' : 'unsubscribed' }));
      const imp = await createContactImport(env.db, shop.id, { rows });
      await importContacts(env.db, { importId: imp.id, chunkSize: 1000 });
      const [row] = await env.db.$queryRaw<{ n: bigint; rows: bigint; recorded: bigint }[]>`
        SELECT count(*) AS n, count(DISTINCT evidence->>'row') AS rows, count(DISTINCT xmin::text) AS recorded
          FROM contact_consent_records WHERE shop_id = ${shop.id}::uuid AND source = 'import'`;
      // Every row's contact has its record and its own row, written by the chunk's own transaction (two chunks, two).
      expect(row).toEqual({ n: 1200n, rows: 1200n, recorded: 2n });
    });

    it('keyword: STOP and START each write one record with the text and the inbound message id; a redelivery writes nothing', async () => {
      const sender = `1303${String(Date.now()).slice(-7)}`;
      const shop = await createShop(env.db, { senderId: sender });
      const phone = testPhone();
      const { contact } = await createContactApi(env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone), smsConsent: 'subscribed' });
      const at = new Date(Date.now() - 60_000);
      const stop = { id: rid('in'), from: phone, to: sender, text: ' Stop ', timestamp: at.toISOString() };
      expect((await postSimulator(app, 'inbound', stop)).body).toEqual({ received: true });
      expect((await postSimulator(app, 'inbound', stop)).body).toEqual({ duplicate: true });
      const start = { id: rid('in'), from: phone, to: sender, text: 'START', timestamp: new Date().toISOString() };
      await postSimulator(app, 'inbound', start);

      const recs = await recordsOf(contact.id);
      expect(recs.slice(1)).toEqual([
        expect.objectContaining({ state: 'unsubscribed', source: 'keyword', evidence: { keyword: 'STOP', text: ' Stop ', provider: 'simulator', inboundMessageId: stop.id } }),
        expect.objectContaining({ state: 'subscribed', source: 'keyword', evidence: { keyword: 'START', text: 'START', provider: 'simulator', inboundMessageId: start.id } }),
      ]);
      // When the person texted, not when we processed it.
      expect(recs[1]!.collected_at.getTime()).toBe(at.getTime());
    });

    it('shopify: a consent change records Shopify\'s evidence and the webhook; a replay or an unchanged state writes nothing', async () => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      const id = Date.now() * 10 + 7;
      const t0 = new Date(Date.now() - 10_000).toISOString();
      const webhookId = rid('wh');
      const body = (state: string, updatedAt: string) => ({
        id,
        phone,
        email: null,
        first_name: 'Sho',
        last_name: 'Pify',
        updated_at: updatedAt,
        sms_marketing_consent: { state, opt_in_level: 'single_opt_in', consent_updated_at: updatedAt, consent_collected_from: 'SHOPIFY' },
      });
      await deliverShopify('customers/create', body('subscribed', t0), shop.domain, webhookId);
      const contactId = await contactIdOf(shop.id, phone);
      const [event] = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM webhook_events WHERE provider = 'shopify' AND event_id = ${webhookId}`;
      expect(await recordsOf(contactId)).toEqual([
        {
          id: expect.any(BigInt),
          state: 'subscribed',
          source: 'shopify',
          collected_at: new Date(t0),
          evidence: {
            shopifyCustomerId: String(id),
            shopifyState: 'subscribed',
            optInLevel: 'single_opt_in',
            consentCollectedFrom: 'SHOPIFY',
            consentUpdatedAt: t0,
            webhookEventId: event!.id,
            topic: 'customers/create',
          },
        },
      ]);
      // The same body again under a new webhook id (Shopify retries with new ids too), and a newer update with the same state.
      await deliverShopify('customers/create', body('subscribed', t0), shop.domain);
      await deliverShopify('customers/update', body('subscribed', new Date(Date.now() - 5_000).toISOString()), shop.domain);
      expect(await recordsOf(contactId)).toHaveLength(1);
      await deliverShopify('customers/update', body('unsubscribed', new Date().toISOString()), shop.domain);
      expect((await recordsOf(contactId)).map((r) => [r.state, r.source])).toEqual([
        ['subscribed', 'shopify'],
        ['unsubscribed', 'shopify'],
      ]);
    });
  });

  describe('consent mapping of Shopify states', () => {
    it.each([
      ['SUBSCRIBED', 'subscribed'],
      ['PENDING', 'pending'],
      ['NOT_SUBSCRIBED', 'pending'],
      ['UNSUBSCRIBED', 'unsubscribed'],
      ['REDACTED', 'unsubscribed'],
    ])('%s becomes %s (only subscribed is sendable), recorded as from shopify', async (state, expected) => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId: shop.id, customerId: rid('c'), phone, consent: undefined, updatedAt: new Date(Date.now() - 1000) }));
      const customerId = (await env.db.$queryRaw<{ c: string }[]>`SELECT shopify_customer_id AS c FROM contacts WHERE shop_id = ${shop.id}::uuid`)[0]!.c;
      const { consentFromShopify } = await import('../../../../domain/contacts/sync-shopify-customer');
      await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId: shop.id, customerId, phone, consent: consentFromShopify(state), updatedAt: new Date() }));
      const id = await contactIdOf(shop.id, phone);
      const [row] = await env.db.$queryRaw<{ sms_consent: string }[]>`SELECT sms_consent FROM contacts WHERE id = ${id}::uuid`;
      expect(row!.sms_consent).toBe(expected);
      const recs = await recordsOf(id);
      expect(recs[recs.length - 1]).toMatchObject({ state: expected, source: 'shopify' });
    });

    it.each(['SUBSCRIBED', 'PENDING', 'NOT_SUBSCRIBED'])('a keyword opt-out is never lifted by a sync saying %s', async (state) => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      const customerId = rid('c');
      const { consentFromShopify } = await import('../../../../domain/contacts/sync-shopify-customer');
      await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId: shop.id, customerId, phone, consent: 'subscribed', updatedAt: new Date(Date.now() - 5000) }));
      await env.db.$transaction((tx) =>
        applyInboundKeyword(tx, { keyword: 'STOP', fromHash: phoneHash(phone), fromHmac: phoneHmac(env.config.PHONE_HASH_KEY, phone), route: { kind: 'owned', shopId: shop.id, scope: shopScope(shop.id) }, at: new Date(Date.now() - 4000) }),
      );
      await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId: shop.id, customerId, phone, consent: consentFromShopify(state), updatedAt: new Date() }));
      const id = await contactIdOf(shop.id, phone);
      const [row] = await env.db.$queryRaw<{ sms_consent: string; opt_out_source: string }[]>`SELECT sms_consent, opt_out_source FROM contacts WHERE id = ${id}::uuid`;
      expect(row).toEqual({ sms_consent: 'unsubscribed', opt_out_source: 'keyword' });
      expect((await recordsOf(id)).map((r) => [r.state, r.source])).toEqual([
        ['subscribed', 'shopify'],
        ['unsubscribed', 'keyword'],
      ]);
    });

    it.each(['PATCH', 'POST upsert', 'import'] as const)(
      'a merchant opt-out (%s) over one Shopify set becomes the merchant\'s, keeping its time: a later Shopify SUBSCRIBED does not lift it',
      async (path) => {
        const shop = await createShop(env.db);
        const phone = testPhone();
        const customerId = rid('c');
        await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId: shop.id, customerId, phone, consent: 'subscribed', updatedAt: new Date(Date.now() - 60_000) }));
        await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId: shop.id, customerId, phone, consent: 'unsubscribed', updatedAt: new Date(Date.now() - 30_000) }));
        const id = await contactIdOf(shop.id, phone);
        const before = await env.db.$queryRaw<{ opted_out_at: Date }[]>`SELECT opted_out_at FROM contacts WHERE id = ${id}::uuid`;

        // The person called the store: "never text me". The merchant records it.
        if (path === 'PATCH') await updateContact(env.db, shop.id, id, { phoneE164: undefined, phoneHash: undefined, smsConsent: 'unsubscribed' });
        else if (path === 'POST upsert') await createContactApi(env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone), smsConsent: 'unsubscribed' });
        else {
          const imp = await createContactImport(env.db, shop.id, { rows: [{ phone, smsConsent: 'unsubscribed' }] });
          expect((await importContacts(env.db, { importId: imp.id })).status).toBe('completed');
        }
        const source = path === 'import' ? 'import' : 'api';
        const [taken] = await env.db.$queryRaw<{ opted_out_at: Date; opt_out_source: string }[]>`SELECT opted_out_at, opt_out_source FROM contacts WHERE id = ${id}::uuid`;
        expect(taken).toEqual({ opted_out_at: before[0]!.opted_out_at, opt_out_source: source });

        // Later the customer ticks the SMS box at checkout: Shopify says SUBSCRIBED.
        await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId: shop.id, customerId, phone, consent: 'subscribed', updatedAt: new Date() }));
        const [after] = await env.db.$queryRaw<{ sms_consent: string; opt_out_source: string }[]>`SELECT sms_consent, opt_out_source FROM contacts WHERE id = ${id}::uuid`;
        expect(after).toEqual({ sms_consent: 'unsubscribed', opt_out_source: source });
      },
    );
  });

  describe('GET /api/contacts/:id/consent', () => {
    it('lists the record newest first in the standard list shape, paged by cursor; another shop\'s contact is 404', async () => {
      const shop = await createShop(env.db);
      const other = await createShop(env.db);
      const phone = testPhone();
      const { contact } = await createContactApi(env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone) });
      await updateContact(env.db, shop.id, contact.id, { phoneE164: undefined, phoneHash: undefined, smsConsent: 'subscribed' });
      await updateContact(env.db, shop.id, contact.id, { phoneE164: undefined, phoneHash: undefined, smsConsent: 'unsubscribed' });
      const get = async (domain: string, q = '') => request(app).get(`/api/contacts/${contact.id}/consent${q}`).set('Authorization', await auth(domain));

      const all = await get(shop.domain);
      expect(all.status).toBe(200);
      expect(all.body).toEqual({
        data: [
          { id: expect.any(String), state: 'unsubscribed', source: 'api', collectedAt: expect.any(String), recordedAt: expect.any(String), evidence: expect.any(Object) },
          expect.objectContaining({ state: 'subscribed', source: 'api' }),
          expect.objectContaining({ state: 'pending', source: 'api' }),
        ],
        nextCursor: null,
      });
      const first = await get(shop.domain, '?limit=2');
      expect(first.body.data.map((r: { state: string }) => r.state)).toEqual(['unsubscribed', 'subscribed']);
      expect(typeof first.body.nextCursor).toBe('string');
      const second = await get(shop.domain, `?limit=2&cursor=${first.body.nextCursor}`);
      expect(second.body).toEqual({ data: [expect.objectContaining({ state: 'pending' })], nextCursor: null });

      expect((await get(other.domain)).status).toBe(404);
      expect((await get(shop.domain, '?cursor=bm9wZQ')).status).toBe(400);
      expect((await get(shop.domain, '?limit=0')).status).toBe(400);
      expect((await get(shop.domain, '?unknown=1')).status).toBe(400);
    });
  });

  describe('privacy', () => {
    it('customers/data_request includes the record; customers/redact erases it', async () => {
      const sender = `1404${String(Date.now()).slice(-7)}`;
      const shop = await createShop(env.db, { senderId: sender });
      const phone = testPhone();
      const id = Date.now() * 10 + 3;
      await deliverShopify('customers/create', { id, phone, updated_at: new Date(Date.now() - 5000).toISOString(), sms_marketing_consent: { state: 'subscribed' } }, shop.domain);
      await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'STOP', timestamp: new Date().toISOString() });
      const contactId = await contactIdOf(shop.id, phone);
      expect(await recordsOf(contactId)).toHaveLength(2);

      const dataRequestId = rid('wh');
      await deliverShopify('customers/data_request', { shop_domain: shop.domain, customer: { id, phone }, data_request: { id: 9 } }, shop.domain, dataRequestId);
      const [req] = await env.db.$queryRaw<{ data: { consentRecords: { contactId: string; state: string; source: string }[] } }[]>`
        SELECT data FROM privacy_requests WHERE shop_id = ${shop.id}::uuid AND kind = 'data_request'`;
      expect(req!.data.consentRecords).toEqual([
        expect.objectContaining({ contactId, state: 'subscribed', source: 'shopify', collectedAt: expect.any(String), evidence: expect.objectContaining({ shopifyCustomerId: String(id) }) }),
        expect.objectContaining({ contactId, state: 'unsubscribed', source: 'keyword', evidence: expect.objectContaining({ keyword: 'STOP' }) }),
      ]);

      await deliverShopify('customers/redact', { shop_domain: shop.domain, customer: { id, phone }, orders_to_redact: [] }, shop.domain);
      expect(await recordsOf(contactId)).toEqual([]);
    });

    it('DELETE /api/contacts/:id erases the record with the contact', async () => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      const { contact } = await createContactApi(env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone), smsConsent: 'subscribed' });
      expect(await recordsOf(contact.id)).toHaveLength(1);
      expect((await request(app).delete(`/api/contacts/${contact.id}`).set('Authorization', await auth(shop.domain))).status).toBe(204);
      expect(await recordsOf(contact.id)).toEqual([]);
    });

    it('shop/redact erases every record of the shop', async () => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      await createContactApi(env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone), smsConsent: 'subscribed' });
      await deliverShopify('shop/redact', { shop_id: 1, shop_domain: shop.domain }, shop.domain);
      await waitFor('the erasure job deleted the shop', async () => (await env.db.$queryRaw<unknown[]>`SELECT 1 FROM shops WHERE id = ${shop.id}::uuid`).length === 0);
      const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_consent_records WHERE shop_id = ${shop.id}::uuid`;
      expect(row!.n).toBe(0n);
    });
  });

  describe('the database keeps the record append-only', () => {
    it('refuses UPDATE and DELETE outside a GDPR erasure; DELETE passes only with app.gdpr_erasure on', async () => {
      const shop = await createShop(env.db);
      const phone = testPhone();
      const { contact } = await createContactApi(env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone), smsConsent: 'subscribed' });
      await expect(env.db.$executeRaw`UPDATE contact_consent_records SET state = 'unsubscribed' WHERE contact_id = ${contact.id}::uuid`).rejects.toThrow(/append-only/);
      await expect(env.db.$executeRaw`DELETE FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid`).rejects.toThrow(/append-only/);
      expect(await recordsOf(contact.id)).toHaveLength(1);
      const deleted = await env.db.$transaction(async (tx) => {
        await tx.$executeRaw`SET LOCAL app.gdpr_erasure = 'on'`;
        return tx.$executeRaw`DELETE FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid`;
      });
      expect(deleted).toBe(1);
    });
  });

  describe('invariant', () => {
    it('after any mix of api, import, keyword and shopify changes, every contact\'s newest record is its current consent', async () => {
      const shop = await createShop(env.db);
      const phones = [testPhone(), testPhone(), testPhone()];
      const customerIds = phones.map(() => rid('c'));
      const consent = fc.constantFrom('subscribed' as const, 'unsubscribed' as const, 'pending' as const);
      const op = fc.oneof(
        fc.record({ kind: fc.constant('api_create' as const), i: fc.nat(2), consent }),
        fc.record({ kind: fc.constant('api_patch' as const), i: fc.nat(2), consent }),
        fc.record({ kind: fc.constant('import' as const), i: fc.nat(2), consent }),
        fc.record({ kind: fc.constant('keyword' as const), i: fc.nat(2), stop: fc.boolean() }),
        fc.record({ kind: fc.constant('shopify' as const), i: fc.nat(2), consent }),
      );
      let clock = Date.now() - 1_000_000;
      // A run of keywords alone may touch no contact, so the non-vacuity check spans all runs.
      let contactsChecked = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
          for (const o of ops) {
            const phone = phones[o.i]!;
            const hash = phoneHash(phone);
            clock += 1000;
            switch (o.kind) {
              case 'api_create':
                await createContactApi(env.db, shop.id, { phoneE164: phone, phoneHash: hash, smsConsent: o.consent });
                break;
              case 'api_patch': {
                const [c] = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${hash} AND erased_at IS NULL`;
                // A refused change (re-subscribing a STOP) is part of the mix: it must record nothing.
                if (c) await updateContact(env.db, shop.id, c.id, { phoneE164: undefined, phoneHash: undefined, smsConsent: o.consent }).catch(() => undefined);
                break;
              }
              case 'import': {
                const imp = await createContactImport(env.db, shop.id, { rows: [{ phone, smsConsent: o.consent }] });
                await importContacts(env.db, { importId: imp.id });
                break;
              }
              case 'keyword':
                await env.db.$transaction((tx) =>
                  applyInboundKeyword(tx, {
                    keyword: o.stop ? 'STOP' : 'START',
                    fromHash: hash,
                    fromHmac: phoneHmac(env.config.PHONE_HASH_KEY, phone),
                    route: { kind: 'owned', shopId: shop.id, scope: shopScope(shop.id) },
                    at: new Date(clock),
                    message: { provider: 'simulator', id: rid('in'), text: o.stop ? 'STOP' : 'START' },
                  }),
                );
                break;
              case 'shopify':
                await env.db.$transaction((tx) =>
                  syncShopifyCustomer(tx, { shopId: shop.id, customerId: customerIds[o.i]!, phone, consent: o.consent, updatedAt: new Date(clock) }),
                );
                break;
            }
          }
          const contacts = await env.db.$queryRaw<{ id: string; sms_consent: string; newest: string | null }[]>`
            SELECT c.id, c.sms_consent,
                   (SELECT r.state FROM contact_consent_records r WHERE r.contact_id = c.id ORDER BY r.id DESC LIMIT 1) AS newest
              FROM contacts c WHERE c.shop_id = ${shop.id}::uuid`;
          contactsChecked += contacts.length;
          for (const m of contacts) expect(m.newest).toBe(m.sms_consent);
        }),
        { numRuns: 25 },
      );
      expect(contactsChecked).toBeGreaterThan(0);
    });
  });
});
