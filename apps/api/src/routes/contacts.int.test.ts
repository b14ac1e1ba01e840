import request from 'supertest';
import type { Express } from 'express';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createContact, createShop, phoneHash, testPhone } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { syncShopifyCustomer } from '../../../../domain/contacts/sync-shopify-customer';

describe('contacts API', () => {
  let env: TestEnv;
  let app: Express;
  let domain: string;
  let shopId: string;
  const auth = async () => `Bearer ${await sessionToken(domain)}`;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    const shop = await createShop(env.db);
    domain = shop.domain;
    shopId = shop.id;
  });
  afterAll(async () => {
    await env.close();
  });

  const post = async (body: unknown) => request(app).post('/api/contacts').set('Authorization', await auth()).send(body as object);
  const contactRow = async (id: string) =>
    (await env.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM contacts WHERE id = ${id}::uuid`)[0]!;

  describe('POST /api/contacts', () => {
    it('a field with an unpaired UTF-16 surrogate (valid JSON, not storable) is a 400 naming the field, and nothing is written', async () => {
      const raw = (body: object) => JSON.stringify(body).replace('LONE', '\\ud800');
      for (const body of [{ phone: testPhone(), firstName: 'AnnLONE' }, { phone: testPhone(), email: 'aLONE@example.test' }, { phone: testPhone(), tags: ['vipLONE'] }, { phone: `${testPhone()}LONE` }]) {
        const res = await request(app).post('/api/contacts').set('Authorization', await auth()).set('Content-Type', 'application/json').send(raw(body));
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('VALIDATION_FAILED');
      }
    });

    it('creates (201) then upserts the same number (200), one row', async () => {
      const first = await post({ phone: '+1 201 555 0199', firstName: 'Ada', tags: [' VIP ', 'vip', 'Summer'] });
      expect(first.status).toBe(201);
      expect(first.headers.location).toBe(`/api/contacts/${first.body.id}`);
      expect(first.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        phone: '+12015550199',
        email: null,
        firstName: 'Ada',
        lastName: null,
        smsConsent: 'pending',
        tags: ['vip', 'summer'],
        timezone: null,
        optedOutAt: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const again = await post({ phone: '(201) 555-0199', country: 'US', lastName: 'Lovelace', tags: ['new'] });
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(first.body.id);
      expect(again.body).toMatchObject({ firstName: 'Ada', lastName: 'Lovelace', tags: ['vip', 'summer', 'new'] });
      const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contacts WHERE shop_id = ${shopId}::uuid AND phone_hash = ${phoneHash('+12015550199')}`;
      expect(Number(row!.n)).toBe(1);
    });

    it.each([
      [{ phone: '(201) 555-0123', country: 'US' }, '+12015550123'],
      [{ phone: '201.555.0124', country: 'us' }, '+12015550124'],
      [{ phone: '+44 20 7946 0958' }, '+442079460958'],
      [{ phone: '0044 20 7946 0959' }, '+442079460959'],
      [{ phone: '0044 20 7946 0960', country: 'US' }, '+442079460960'],
      [{ phone: '020 7946 0961', country: 'GB' }, '+442079460961'],
      [{ phone: '0011 44 20 7946 0962', country: 'AU' }, '+442079460962'],
      [{ phone: '001 44 20 7946 0963', country: 'SG' }, '+442079460963'],
    ])('normalises %j to %s', async (body, e164) => {
      const res = await post(body);
      expect(res.status).toBe(201);
      expect(res.body.phone).toBe(e164);
      const row = await contactRow(res.body.id);
      expect(row.phone_e164).toBe(e164);
      expect(row.phone_hash).toBe(phoneHash(e164));
    });

    it.each([
      ['too short', { phone: '+1 201 555' }],
      ['right length but invalid (no such area code)', { phone: '+1 999 555 0123' }],
      ['right length but invalid (UK)', { phone: '+44 20 7946 095' }],
      ['national without a country', { phone: '(201) 555-0123' }],
      ['letters', { phone: '+1 201 CALL NOW' }],
      ['not a string', { phone: 12015550123 }],
    ])('rejects a phone that is %s with 400 on path phone', async (_why, body) => {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'phone' })]));
    });

    it.each([
      ['an unknown field', { phone: '+12015550150', favouriteColour: 'blue' }, 'favouriteColour'],
      ['an unknown country', { phone: '2015550150', country: 'XX' }, 'country'],
      ['a bad email', { phone: '+12015550150', email: 'not-an-email' }, 'email'],
      ['a control character in a name', { phone: '+12015550150', firstName: 'A\u0000da' }, 'firstName'],
      ['a name over 100 chars', { phone: '+12015550150', lastName: 'x'.repeat(101) }, 'lastName'],
      ['an unknown consent', { phone: '+12015550150', smsConsent: 'yes' }, 'smsConsent'],
      ['too many tags', { phone: '+12015550150', tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, 'tags'],
      ['a tag over 64 chars', { phone: '+12015550150', tags: ['x'.repeat(65)] }, 'tags.0'],
      ['an empty tag', { phone: '+12015550150', tags: ['  '] }, 'tags.0'],
    ])('rejects %s with 400 naming the path, nothing stored', async (_why, body, path) => {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
      const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contacts WHERE phone_e164 = '+12015550150'`;
      expect(Number(row!.n)).toBe(0);
    });

    it('keeps a time zone for quiet hours: canonicalised on create, kept by an upsert without one, cleared by PATCH null; an unknown zone is 400', async () => {
      const res = await post({ phone: '+44 7911 123455', timezone: 'europe/london' });
      expect(res.status).toBe(201);
      expect(res.body.timezone).toBe('Europe/London');
      const again = await post({ phone: '+447911123455', firstName: 'Ada' });
      expect(again.body).toMatchObject({ id: res.body.id, timezone: 'Europe/London', firstName: 'Ada' });
      const patched = await request(app).patch(`/api/contacts/${res.body.id}`).set('Authorization', await auth()).send({ timezone: 'Asia/Tokyo' });
      expect(patched.body.timezone).toBe('Asia/Tokyo');
      const cleared = await request(app).patch(`/api/contacts/${res.body.id}`).set('Authorization', await auth()).send({ timezone: null });
      expect(cleared.body.timezone).toBeNull();
      expect((await contactRow(res.body.id)).timezone).toBeNull();
      for (const timezone of ['Mars/Olympus', '+05:00', '', 42]) {
        const bad = await post({ phone: '+447911123456', timezone });
        expect(bad.status).toBe(400);
        expect(bad.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'timezone' })]));
      }
    });

    it('a body that is not JSON is 415, an invalid JSON body 400', async () => {
      const text = await request(app).post('/api/contacts').set('Authorization', await auth()).set('Content-Type', 'text/plain').send('phone=+12015550150');
      expect(text.status).toBe(415);
      const broken = await request(app).post('/api/contacts').set('Authorization', await auth()).set('Content-Type', 'application/json').send('{"phone":');
      expect(broken.status).toBe(400);
      expect(broken.body.error.code).toBe('VALIDATION_FAILED');
    });

    it('needs a session token', async () => {
      const res = await request(app).post('/api/contacts').send({ phone: '+12015550150' });
      expect(res.status).toBe(401);
    });
  });

  describe('consent and opt-outs', () => {
    it('unsubscribed records an opt-out; pending does not clear it', async () => {
      const phone = testPhone();
      const unsub = await post({ phone, smsConsent: 'unsubscribed' });
      expect(unsub.status).toBe(201);
      expect(unsub.body.smsConsent).toBe('unsubscribed');
      expect(unsub.body.optedOutAt).toEqual(expect.any(String));
      expect((await contactRow(unsub.body.id)).opt_out_source).toBe('api');
      const pending = await post({ phone, smsConsent: 'pending' });
      expect(pending.body).toMatchObject({ smsConsent: 'unsubscribed', optedOutAt: unsub.body.optedOutAt });
    });

    // The admin's "Add contact" is this upsert: adding a number the shop already
    // holds as opted out must not re-subscribe it. Only a PATCH (an edit of that
    // contact, which shows the opt-out) or the person's START does.
    it('a POST saying subscribed never lifts an opt-out, the merchant\'s own included; it answers with the contact still opted out, and a PATCH lifts it', async () => {
      const phone = testPhone();
      const unsub = await post({ phone, smsConsent: 'unsubscribed' });
      expect(unsub.status).toBe(201);
      const added = await post({ phone, firstName: 'Again', smsConsent: 'subscribed' });
      expect(added.status).toBe(200);
      expect(added.body).toMatchObject({ id: unsub.body.id, firstName: 'Again', smsConsent: 'unsubscribed', optedOutAt: unsub.body.optedOutAt });
      expect(await contactRow(unsub.body.id)).toMatchObject({ sms_consent: 'unsubscribed', opt_out_source: 'api' });

      const patched = await request(app).patch(`/api/contacts/${unsub.body.id}`).set('Authorization', await auth()).send({ smsConsent: 'subscribed' });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ smsConsent: 'subscribed', optedOutAt: null });
      // A number never opted out (pending) is the merchant's to subscribe by POST.
      const fresh = testPhone();
      await post({ phone: fresh });
      expect((await post({ phone: fresh, smsConsent: 'subscribed' })).body).toMatchObject({ smsConsent: 'subscribed', optedOutAt: null });
    });

    it('a keyword (STOP) opt-out is never lifted through the API', async () => {
      const c = await createContact(env.db, shopId, { consent: 'unsubscribed', optedOut: true });
      const upsert = await post({ phone: c.phone, smsConsent: 'subscribed' });
      expect(upsert.status).toBe(200);
      expect(upsert.body.smsConsent).toBe('unsubscribed');
      expect(upsert.body.optedOutAt).toEqual(expect.any(String));
      const patch = await request(app).patch(`/api/contacts/${c.id}`).set('Authorization', await auth()).send({ smsConsent: 'subscribed' });
      expect(patch.status).toBe(409);
      expect(patch.body.error).toMatchObject({ code: 'INVALID_STATE', details: { optOutSource: 'keyword' } });
      const row = await contactRow(c.id);
      expect(row.opt_out_source).toBe('keyword');
      expect(row.opted_out_at).not.toBeNull();
      // Setting unsubscribed does not touch the person's opt-out either.
      const unsub = await request(app).patch(`/api/contacts/${c.id}`).set('Authorization', await auth()).send({ smsConsent: 'unsubscribed' });
      expect(unsub.status).toBe(200);
      expect((await contactRow(c.id)).opt_out_source).toBe('keyword');
    });

    it('an opt-out the customer made in Shopify is not lifted by an upsert saying subscribed (nor written back); a PATCH, the merchant\'s explicit decision, lifts it', async () => {
      const phone = testPhone();
      const customerId = `${Date.now()}1`;
      await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId, customerId, phone, consent: 'subscribed', updatedAt: new Date(Date.now() - 60_000) }));
      await env.db.$transaction((tx) => syncShopifyCustomer(tx, { shopId, customerId, phone, consent: 'unsubscribed', updatedAt: new Date(Date.now() - 30_000) }));
      const id = (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shopId}::uuid AND phone_hash = ${phoneHash(phone)}`)[0]!.id;
      const optedOutAt = (await contactRow(id)).opted_out_at;

      const upsert = await post({ phone, smsConsent: 'subscribed' });
      expect(upsert.status).toBe(200);
      expect(upsert.body).toMatchObject({ id, smsConsent: 'unsubscribed', optedOutAt: (optedOutAt as Date).toISOString() });
      expect(await contactRow(id)).toMatchObject({ opt_out_source: 'shopify' });
      const writebacks = await env.db.$queryRaw<unknown[]>`SELECT 1 FROM shopify_consent_writebacks WHERE contact_id = ${id}::uuid`;
      expect(writebacks).toEqual([]);

      const patch = await request(app).patch(`/api/contacts/${id}`).set('Authorization', await auth()).send({ smsConsent: 'subscribed' });
      expect(patch.status).toBe(200);
      expect(patch.body).toMatchObject({ smsConsent: 'subscribed', optedOutAt: null });
    });
  });

  describe('GET /api/contacts', () => {
    let listShop: { id: string; domain: string };
    const list = async (query: Record<string, string>) =>
      request(app).get('/api/contacts').query(query).set('Authorization', `Bearer ${await sessionToken(listShop.domain)}`);

    beforeAll(async () => {
      listShop = await createShop(env.db);
      // 7 subscribed "vip", 5 pending, and one erased contact that must never show.
      for (let i = 0; i < 12; i++) {
        await createContact(env.db, listShop.id, {
          phone: `+1201300${String(1000 + i)}`,
          firstName: i === 3 ? 'Zoë' : `Person${i}`,
          email: i === 4 ? 'under_score@example.com' : null,
          consent: i < 7 ? 'subscribed' : 'pending',
          tags: i < 7 ? ['vip'] : ['other'],
        });
      }
      const erased = await createContact(env.db, listShop.id, { phone: '+12013009999', firstName: 'Gone', tags: ['vip'] });
      await env.db.$executeRaw`UPDATE contacts SET phone_e164 = NULL, first_name = NULL, last_name = NULL, erased_at = now() WHERE id = ${erased.id}::uuid`;
    });

    it('pages newest first through more than 2 pages without gaps or repeats', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const res = await list(cursor ? { limit: '5', cursor } : { limit: '5' });
        expect(res.status).toBe(200);
        pages++;
        seen.push(...res.body.data.map((c: { id: string }) => c.id));
        cursor = res.body.nextCursor ?? undefined;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toHaveLength(12);
      expect(new Set(seen).size).toBe(12);
      const expected = await env.db.$queryRaw<{ id: string }[]>`
        SELECT id FROM contacts WHERE shop_id = ${listShop.id}::uuid AND erased_at IS NULL ORDER BY created_at DESC, id DESC`;
      expect(seen).toEqual(expected.map((r) => r.id));
    });

    it('filters by consent and tag across pages', async () => {
      const first = await list({ limit: '3', consent: 'subscribed', tag: 'VIP' });
      expect(first.body.data).toHaveLength(3);
      const ids = first.body.data.map((c: { id: string }) => c.id);
      let cursor = first.body.nextCursor;
      while (cursor) {
        const next = await list({ limit: '3', consent: 'subscribed', tag: 'vip', cursor });
        ids.push(...next.body.data.map((c: { id: string }) => c.id));
        cursor = next.body.nextCursor;
      }
      expect(ids).toHaveLength(7);
      const pending = await list({ consent: 'pending' });
      expect(pending.body.data).toHaveLength(5);
      expect(pending.body.data.every((c: { tags: string[] }) => c.tags.includes('other'))).toBe(true);
    });

    it('q is a prefix search on phone, email and names, with LIKE wildcards taken literally', async () => {
      expect((await list({ q: 'zo' })).body.data.map((c: { firstName: string }) => c.firstName)).toEqual(['Zoë']);
      expect((await list({ q: '+1201300100' })).body.data).toHaveLength(10);
      expect((await list({ q: '1201300101' })).body.data).toHaveLength(2);
      expect((await list({ q: 'under_' })).body.data).toHaveLength(1);
      expect((await list({ q: 'under%' })).body.data).toHaveLength(0);
      expect((await list({ q: '%' })).body.data).toHaveLength(0);
      expect((await list({ q: 'gone' })).body.data).toHaveLength(0);
    });

    it('q matches a prefix of each field in any case, newest first, with consent and tag, across pages', async () => {
      const shop = await createShop(env.db);
      const make = async (o: Parameters<typeof createContact>[2]) => (await createContact(env.db, shop.id, o)).id;
      const maria = await make({ firstName: 'Maria', lastName: 'Lopez', email: 'ml@example.com', tags: ['vip'] });
      const mario = await make({ firstName: 'Mario', lastName: 'Rossi', email: null, consent: 'pending', tags: ['vip'] });
      const tom = await make({ firstName: 'Tom', lastName: 'MARTIN', email: 'tom@example.com', tags: ['vip'] });
      const ann = await make({ firstName: 'Ann', lastName: 'Lee', email: 'Market.Ann@example.com', tags: ['vip'] });
      const slash = await make({ firstName: 'A\\b', lastName: null });
      const uk = await make({ phone: '+447700900456', firstName: 'Bob', lastName: 'Ray' });
      await make({ firstName: 'Omar', lastName: 'Amar', email: 'omar@example.com', tags: ['vip'] });
      const gone = await make({ firstName: 'Marge', tags: ['vip'] });
      await env.db.$executeRaw`UPDATE contacts SET phone_e164 = NULL, first_name = NULL, last_name = NULL, email = NULL, erased_at = now() WHERE id = ${gone}::uuid`;

      const token = `Bearer ${await sessionToken(shop.domain)}`;
      const search = async (query: Record<string, string>) => {
        const res = await request(app).get('/api/contacts').query(query).set('Authorization', token);
        expect(res.status).toBe(200);
        return res.body as { data: { id: string }[]; nextCursor: string | null };
      };
      const ids = async (query: Record<string, string>) => (await search(query)).data.map((c) => c.id);
      const newestFirst = async (wanted: string[]) =>
        (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE id = ANY(${wanted}::uuid[]) ORDER BY created_at DESC, id DESC`).map((r) => r.id);

      const mar = await newestFirst([maria, mario, tom, ann]);
      expect(await ids({ q: 'mar' })).toEqual(mar);
      expect(await ids({ q: 'MAR' })).toEqual(mar);
      expect(await ids({ q: 'lopez' })).toEqual([maria]);
      expect(await ids({ q: 'ML@' })).toEqual([maria]);
      expect(await ids({ q: 'market.' })).toEqual([ann]);
      expect(await ids({ q: 'market_' })).toEqual([]);
      expect(await ids({ q: 'a\\' })).toEqual([slash]);
      expect(await ids({ q: '+44 7700 900' })).toEqual([uk]);
      expect(await ids({ q: '447700' })).toEqual([uk]);
      expect(await ids({ q: 'marge' })).toEqual([]);
      expect(await ids({ q: 'mar', consent: 'subscribed', tag: 'vip' })).toEqual(await newestFirst([maria, tom, ann]));

      for (const [limit, extra] of [['1', {}], ['2', { tag: 'vip' }]] as const) {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await search({ q: 'mar', limit, ...extra, ...(cursor ? { cursor } : {}) });
          expect(page.data.length).toBeLessThanOrEqual(Number(limit));
          seen.push(...page.data.map((c) => c.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen).toEqual(mar);
      }
    });

    it.each([
      [{ limit: '0' }, 'limit'],
      [{ limit: '201' }, 'limit'],
      [{ limit: 'ten' }, 'limit'],
      [{ cursor: 'not-a-cursor!' }, 'cursor'],
      [{ cursor: Buffer.from('{"createdAt":"x","id":"y"}').toString('base64url') }, 'cursor'],
      [{ consent: 'maybe' }, 'consent'],
      [{ sort: 'name' }, 'sort'],
    ])('rejects query %j with 400 on %s', async (query, path) => {
      const res = await list(query);
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    });
  });

  describe('GET/PATCH/DELETE /api/contacts/:id', () => {
    it('reads and patches a contact (null clears, tags replace)', async () => {
      const created = await post({ phone: testPhone(), firstName: 'Ada', email: 'ada@example.com', tags: ['a', 'b'] });
      const got = await request(app).get(`/api/contacts/${created.body.id}`).set('Authorization', await auth());
      expect(got.status).toBe(200);
      expect(got.body).toEqual(created.body);
      const patched = await request(app)
        .patch(`/api/contacts/${created.body.id}`)
        .set('Authorization', await auth())
        .send({ email: null, lastName: 'King', tags: ['C'], smsConsent: 'subscribed' });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ firstName: 'Ada', lastName: 'King', email: null, tags: ['c'], smsConsent: 'subscribed' });
      expect(new Date(patched.body.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(created.body.updatedAt).getTime());
    });

    it('patches the phone, refusing a number another contact has', async () => {
      const a = await post({ phone: testPhone() });
      const b = await post({ phone: testPhone() });
      const moved = await request(app).patch(`/api/contacts/${a.body.id}`).set('Authorization', await auth()).send({ phone: '(201) 555-0177', country: 'US' });
      expect(moved.status).toBe(200);
      expect(moved.body.phone).toBe('+12015550177');
      expect((await contactRow(a.body.id)).phone_hash).toBe(phoneHash('+12015550177'));
      const clash = await request(app).patch(`/api/contacts/${b.body.id}`).set('Authorization', await auth()).send({ phone: '+12015550177' });
      expect(clash.status).toBe(400);
      expect(clash.body.error.details).toEqual([expect.objectContaining({ path: 'phone' })]);
      const unknownField = await request(app).patch(`/api/contacts/${b.body.id}`).set('Authorization', await auth()).send({ id: 'x' });
      expect(unknownField.status).toBe(400);
      expect(unknownField.body.error.details).toEqual([expect.objectContaining({ path: 'id' })]);
    });

    it('moves a contact onto an erased contact\'s number (no contact has it), taking over the opt-out that survived the erasure', async () => {
      const erasedNumber = testPhone();
      const old = await post({ phone: erasedNumber, firstName: 'Gone', smsConsent: 'unsubscribed' });
      expect((await request(app).delete(`/api/contacts/${old.body.id}`).set('Authorization', await auth())).status).toBe(204);
      const optedOutAt = (await contactRow(old.body.id)).opted_out_at as Date;

      const live = await post({ phone: testPhone(), firstName: 'Right', smsConsent: 'subscribed' });
      const moved = await request(app).patch(`/api/contacts/${live.body.id}`).set('Authorization', await auth()).send({ phone: erasedNumber });
      expect(moved.status).toBe(200);
      // The number is still opted out (opt-outs survive erasure), now with the erasure's protection.
      expect(moved.body).toMatchObject({ id: live.body.id, phone: erasedNumber, firstName: 'Right', smsConsent: 'unsubscribed', optedOutAt: optedOutAt.toISOString() });
      expect(await contactRow(live.body.id)).toMatchObject({ phone_hash: phoneHash(erasedNumber), opt_out_source: 'redact' });
      // The tombstone keeps its history but no longer the number, nor its opt-out.
      const tombstone = await contactRow(old.body.id);
      expect(tombstone).toMatchObject({ phone_e164: null, first_name: null, phone_hash: `released:${old.body.id}`, opted_out_at: null, opt_out_source: null });
      expect(tombstone.erased_at).not.toBeNull();
      // No upsert lifts it; a PATCH does.
      expect((await post({ phone: erasedNumber, smsConsent: 'subscribed' })).body).toMatchObject({ id: live.body.id, smsConsent: 'unsubscribed' });
      const lifted = await request(app).patch(`/api/contacts/${live.body.id}`).set('Authorization', await auth()).send({ smsConsent: 'subscribed' });
      expect(lifted.body).toMatchObject({ smsConsent: 'subscribed', optedOutAt: null });
    });

    it('a refused move onto an erased contact\'s number leaves the number to its tombstone', async () => {
      const stopped = testPhone();
      const old = await post({ phone: stopped });
      // The person texted STOP before the merchant erased the contact.
      await env.db.$executeRaw`UPDATE contacts SET sms_consent = 'unsubscribed', opted_out_at = now(), opt_out_source = 'keyword' WHERE id = ${old.body.id}::uuid`;
      expect((await request(app).delete(`/api/contacts/${old.body.id}`).set('Authorization', await auth())).status).toBe(204);

      const live = await post({ phone: testPhone() });
      // Re-subscribing the number in the same PATCH: only the person can, by texting START.
      const resub = await request(app).patch(`/api/contacts/${live.body.id}`).set('Authorization', await auth()).send({ phone: stopped, smsConsent: 'subscribed' });
      expect(resub.status).toBe(409);
      expect(resub.body.error).toMatchObject({ code: 'INVALID_STATE', details: { optOutSource: 'keyword' } });
      // An opted-out contact keeps its number.
      const optedOut = await post({ phone: testPhone(), smsConsent: 'unsubscribed' });
      const move = await request(app).patch(`/api/contacts/${optedOut.body.id}`).set('Authorization', await auth()).send({ phone: stopped });
      expect(move.status).toBe(409);

      expect(await contactRow(old.body.id)).toMatchObject({ phone_hash: phoneHash(stopped), opt_out_source: 'keyword' });
      expect(await contactRow(live.body.id)).toMatchObject({ opted_out_at: null });
      // Re-added, the number comes back as the erased contact, still opted out by the person.
      expect((await post({ phone: stopped })).body).toMatchObject({ id: old.body.id, smsConsent: 'unsubscribed' });
    });

    it('unknown, malformed and other shops\' ids are 404 NOT_FOUND', async () => {
      const other = await createShop(env.db);
      const theirs = await createContact(env.db, other.id);
      for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', theirs.id]) {
        for (const method of ['get', 'patch', 'delete'] as const) {
          const res = await request(app)[method](`/api/contacts/${id}`).set('Authorization', await auth()).send(method === 'patch' ? { firstName: 'X' } : undefined);
          expect(res.status).toBe(404);
          expect(res.body.error.code).toBe('NOT_FOUND');
        }
      }
      expect((await contactRow(theirs.id)).first_name).toBe('Ada');
    });

    it('DELETE erases PII but keeps a tombstone whose opt-out survives a re-create', async () => {
      const phone = testPhone();
      const created = await post({ phone, firstName: 'Ada', email: 'ada@example.com', tags: ['x'], smsConsent: 'unsubscribed' });
      const del = await request(app).delete(`/api/contacts/${created.body.id}`).set('Authorization', await auth());
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      const row = await contactRow(created.body.id);
      expect(row).toMatchObject({ phone_e164: null, email: null, first_name: null, last_name: null, tags: [], phone_hash: phoneHash(phone), sms_consent: 'unsubscribed' });
      expect(row.erased_at).not.toBeNull();
      expect(row.opted_out_at).not.toBeNull();
      expect((await request(app).get(`/api/contacts/${created.body.id}`).set('Authorization', await auth())).status).toBe(404);
      expect((await request(app).delete(`/api/contacts/${created.body.id}`).set('Authorization', await auth())).status).toBe(404);

      const again = await post({ phone, firstName: 'Ada', smsConsent: 'subscribed' });
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(created.body.id);
      expect(again.body).toMatchObject({ phone, firstName: 'Ada', email: null, tags: [], smsConsent: 'unsubscribed' });
      expect(again.body.optedOutAt).toEqual(expect.any(String));
    });

    it('a tombstone\'s opt-out revived by a POST saying unsubscribed keeps the erasure\'s protection: no later POST lifts it', async () => {
      const phone = testPhone();
      const created = await post({ phone, smsConsent: 'unsubscribed' });
      const optedOutAt = created.body.optedOutAt as string;
      expect((await request(app).delete(`/api/contacts/${created.body.id}`).set('Authorization', await auth())).status).toBe(204);

      // Re-added from, say, the merchant's own unsubscribe list.
      const back = await post({ phone, smsConsent: 'unsubscribed' });
      expect(back.status).toBe(201);
      expect(back.body).toMatchObject({ id: created.body.id, smsConsent: 'unsubscribed', optedOutAt });
      expect((await contactRow(created.body.id)).opt_out_source).toBe('redact');

      const lifted = await post({ phone, smsConsent: 'subscribed' });
      expect(lifted.status).toBe(200);
      expect(lifted.body).toMatchObject({ smsConsent: 'unsubscribed', optedOutAt });
    });

    it('a re-created erased contact that had not opted out starts pending again', async () => {
      const phone = testPhone();
      const created = await post({ phone, smsConsent: 'subscribed' });
      await request(app).delete(`/api/contacts/${created.body.id}`).set('Authorization', await auth());
      const again = await post({ phone });
      expect(again.status).toBe(201);
      expect(again.body).toMatchObject({ smsConsent: 'pending', optedOutAt: null });
    });

    it('a body on DELETE is refused', async () => {
      const created = await post({ phone: testPhone() });
      const res = await request(app).delete(`/api/contacts/${created.body.id}`).set('Authorization', await auth()).send({ force: true });
      expect(res.status).toBe(400);
      expect((await contactRow(created.body.id)).erased_at).toBeNull();
    });
  });
});
