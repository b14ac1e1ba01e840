import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createContact, createContactsBulk, createShop, grantCredits, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { CODE_LENGTH, trackedLinksOf } from '../../../../domain/links/link-code';
import { countSegments } from '../../../../domain/messaging/segments';
import { parseTemplate, renderTemplate, withFooter, type ParsedTemplate } from '../../../../domain/messaging/template';
import type { ApiDeps } from '../deps';
import { createDb, type Db } from '../../../../lib/db';
import { launchCampaign } from '../../../../domain/campaigns/launch-campaign';

describe('campaigns API', () => {
  let env: TestEnv;
  let app: Express;
  let deps: ApiDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const post = async (shop: ShopFixture, path: string, body: object = {}, key?: string) => {
    const req = request(app).post(path).set('Authorization', await auth(shop));
    if (key) req.set('Idempotency-Key', key);
    return req.send(body);
  };
  const get = async (shop: ShopFixture, path: string) => request(app).get(path).set('Authorization', await auth(shop));
  const patch = async (shop: ShopFixture, path: string, body: object) => request(app).patch(path).set('Authorization', await auth(shop)).send(body);
  const enqueue = (shop: ShopFixture, id: string, key: string = randomUUID()) => post(shop, `/api/campaigns/${id}/enqueue`, {}, key);
  const cancel = (shop: ShopFixture, id: string, key: string = randomUUID()) => post(shop, `/api/campaigns/${id}/cancel`, {}, key);

  const wallet = async (shopId: string) => {
    const [w] = await env.db.$queryRaw<{ balance: bigint; reserved: bigint }[]>`SELECT balance, reserved FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
    return { balance: Number(w!.balance), reserved: Number(w!.reserved) };
  };
  const reservationOf = async (campaignId: string) => {
    const rows = await env.db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint; status: string; reservation_key: string }[]>`
      SELECT amount, consumed, released, status, reservation_key FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid`;
    return rows.map((r) => ({ amount: Number(r.amount), consumed: Number(r.consumed), released: Number(r.released), status: r.status, key: r.reservation_key }));
  };
  const outboxOf = async (campaignId: string) =>
    env.db.$queryRaw<{ event_type: string; payload: unknown; trace_id: string | null; available_at: Date; published_at: Date | null }[]>`
      SELECT event_type, payload, trace_id, available_at, published_at FROM outbox_events WHERE aggregate_id = ${campaignId} ORDER BY id`;
  const campaignRow = async (id: string) => {
    const [c] = await env.db.$queryRaw<{ status: string; segments_per_message: number | null; total_recipients: number; trace_id: string | null; cancelled_at: Date | null }[]>`
      SELECT status, segments_per_message, total_recipients, trace_id, cancelled_at FROM campaigns WHERE id = ${id}::uuid`;
    return c!;
  };
  const metric = async (outcome: string) => {
    const m = await deps.metrics.campaignsEnqueued.get();
    return m.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  };

  describe('create, read, list, edit', () => {
    it('POST /api/campaigns creates a draft with Location and the published shape', async () => {
      const shop = await createShop(env.db);
      const res = await post(shop, '/api/campaigns', { name: 'Spring sale', body: 'Hi {{firstName|there}}!', audience: { tags: ['VIP ', 'vip'] } });
      expect(res.status).toBe(201);
      expect(res.headers.location).toBe(`/api/campaigns/${res.body.id}`);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: 'Spring sale',
        body: 'Hi {{firstName|there}}!',
        audience: { tags: ['vip'] },
        status: 'draft',
        scheduledAt: null,
        ignoreSmartSending: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        startedAt: null,
        completedAt: null,
      });
      const again = await get(shop, `/api/campaigns/${res.body.id}`);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(res.body);
    });

    it('rejects an unknown placeholder with VALIDATION_FAILED on path body, and bad sizes', async () => {
      const shop = await createShop(env.db);
      const unknown = await post(shop, '/api/campaigns', { name: 'x', body: 'Hi {{nickname}}' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.code).toBe('VALIDATION_FAILED');
      expect(unknown.body.error.details).toEqual([{ path: 'body', message: expect.stringContaining("Unknown placeholder 'nickname'") }]);
      for (const body of ['', 'a'.repeat(1601)]) {
        const res = await post(shop, '/api/campaigns', { name: 'x', body });
        expect(res.status).toBe(400);
        expect(res.body.error.details[0].path).toBe('body');
      }
      // A blank text would be sent, and charged, as one.
      for (const body of ['   ', '\n \t\n', '\u00a0\u3000']) {
        const res = await post(shop, '/api/campaigns', { name: 'x', body });
        expect([res.status, res.body.error.details]).toEqual([400, [{ path: 'body', message: 'must contain text, not only spaces or line breaks' }]]);
      }
      // Stored, it would have been silently replaced by U+FFFD.
      const lone = await post(shop, '/api/campaigns', { name: 'x', body: 'Sale \udfff today' });
      expect([lone.status, lone.body.error.details]).toEqual([400, [{ path: 'body', message: expect.stringContaining('unpaired UTF-16 surrogate (index 5)') }]]);
      const noTags = await post(shop, '/api/campaigns', { name: 'x', body: 'hello', audience: { tags: [] } });
      expect(noTags.status).toBe(400);
      expect(noTags.body.error.details[0].path).toBe('audience.tags');
      const ok = await post(shop, '/api/campaigns', { name: 'x', body: 'a'.repeat(1600) });
      expect(ok.status).toBe(201);
    });

    it('another shop\'s campaign, an unknown id and a malformed id are all 404', async () => {
      const [a, b] = [await createShop(env.db), await createShop(env.db)];
      const theirs = await createCampaign(env.db, b.id);
      for (const id of [theirs.id, randomUUID(), 'not-a-uuid']) {
        const res = await get(a, `/api/campaigns/${id}`);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
      expect((await enqueue(a, theirs.id)).status).toBe(404);
      expect((await cancel(a, theirs.id)).status).toBe(404);
      expect((await get(a, `/api/campaigns/${theirs.id}/stats`)).status).toBe(404);
      expect((await post(a, `/api/campaigns/${theirs.id}/preview`)).status).toBe(404);
      expect((await campaignRow(theirs.id)).status).toBe('draft');
    });

    it('lists newest first with a cursor and a status filter', async () => {
      const shop = await createShop(env.db);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await post(shop, '/api/campaigns', { name: `c${i}`, body: 'hello' })).body.id);
      await env.db.$executeRaw`UPDATE campaigns SET status = 'cancelled' WHERE id = ${ids[1]}::uuid`;
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(shop, `/api/campaigns?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        expect(res.body.data.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.data.map((c: { id: string }) => c.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
      const cancelled = await get(shop, '/api/campaigns?status=cancelled');
      expect(cancelled.body).toEqual({ data: [expect.objectContaining({ id: ids[1], status: 'cancelled' })], nextCursor: null });
      expect((await get(shop, '/api/campaigns?cursor=garbage')).status).toBe(400);
      expect((await get(shop, '/api/campaigns?limit=500')).status).toBe(400);
      expect((await get(shop, '/api/campaigns?status=nope')).status).toBe(400);
    });

    it('PATCH edits a draft; a queued, sending or completed campaign is 409 INVALID_STATE with its status', async () => {
      const shop = await createShop(env.db);
      const c = await createCampaign(env.db, shop.id);
      const at = new Date(Date.now() + 3600_000).toISOString();
      const res = await patch(shop, `/api/campaigns/${c.id}`, { name: 'Renamed', body: 'New {{shopName}}', audience: { tags: ['a'] }, scheduledAt: at });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: 'Renamed', body: 'New {{shopName}}', audience: { tags: ['a'] }, scheduledAt: at, status: 'draft' });
      const cleared = await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: null });
      expect(cleared.body.scheduledAt).toBeNull();
      const ignoring = await patch(shop, `/api/campaigns/${c.id}`, { ignoreSmartSending: true });
      expect(ignoring.body).toMatchObject({ ignoreSmartSending: true, name: 'Renamed' });
      expect((await patch(shop, `/api/campaigns/${c.id}`, { ignoreSmartSending: 'yes' })).status).toBe(400);
      const created = await post(shop, '/api/campaigns', { name: 'Flash sale', body: 'Now!', ignoreSmartSending: true });
      expect(created.body.ignoreSmartSending).toBe(true);
      for (const status of ['queued', 'sending', 'completed', 'cancelled']) {
        const other = await createCampaign(env.db, shop.id, { status });
        const denied = await patch(shop, `/api/campaigns/${other.id}`, { name: 'nope' });
        expect(denied.status).toBe(409);
        expect(denied.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status } });
      }
      expect((await patch(shop, `/api/campaigns/${c.id}`, { body: '{{oops}}' })).status).toBe(400);
    });

    it('a scheduledAt outside the years 1–9999 in UTC is 400 on scheduledAt (it was stored and echoed as "+010000-…", no RFC 3339 date-time); the ends of the range are taken', async () => {
      const shop = await createShop(env.db);
      const c = await createCampaign(env.db, shop.id);
      for (const scheduledAt of ['0000-06-01T00:00:00Z', '9999-12-31T23:30:00-01:00', 'tomorrow', '2026-12-24 09:00']) {
        const created = await post(shop, '/api/campaigns', { name: 'x', body: 'hello', scheduledAt });
        expect([created.status, created.body.error?.code, created.body.error?.details?.[0]?.path]).toEqual([400, 'VALIDATION_FAILED', 'scheduledAt']);
        const patched = await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt });
        expect([patched.status, patched.body.error?.code, patched.body.error?.details?.[0]?.path]).toEqual([400, 'VALIDATION_FAILED', 'scheduledAt']);
      }
      expect((await get(shop, `/api/campaigns/${c.id}`)).body).toMatchObject({ status: 'draft', scheduledAt: null });
      const far = await post(shop, '/api/campaigns', { name: 'x', body: 'hello', scheduledAt: '9999-12-31T23:59:59Z' });
      expect([far.status, far.body.scheduledAt]).toEqual([201, '9999-12-31T23:59:59.000Z']);
      expect((await get(shop, `/api/campaigns/${far.body.id}`)).body.scheduledAt).toBe('9999-12-31T23:59:59.000Z');
      const old = await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: '0001-01-01T00:00:00+00:00' });
      expect([old.status, old.body.scheduledAt]).toEqual([200, '0001-01-01T00:00:00.000Z']);
    });
  });

  describe('preview', () => {
    it('renders with fallbacks and the footer, or for a contact; counts the audience and the credits', async () => {
      const shop = await createShop(env.db, { credits: 1000 });
      await env.db.$executeRaw`UPDATE shops SET name = 'Acme' WHERE id = ${shop.id}::uuid`;
      const grace = await createContact(env.db, shop.id, { firstName: 'Grace' });
      await createContact(env.db, shop.id, { firstName: 'Zoë' });
      await createContact(env.db, shop.id, { consent: 'unsubscribed' });
      const c = await createCampaign(env.db, shop.id, { body: 'Hi {{firstName|there}}, news from {{shopName}}' });

      const plain = await post(shop, `/api/campaigns/${c.id}/preview`);
      expect(plain.status).toBe(200);
      expect(plain.body).toEqual({
        text: 'Hi there, news from Acme\nReply STOP to opt out',
        encoding: 'GSM-7',
        characters: 46,
        segments: 1,
        recipients: 2,
        credits: 2,
        links: [],
        // PUBLIC_LINK_BASE, a slash and the 19-character code, whether or not the body has a link.
        shortLinkLength: trackedLinksOf(env.config).base.length + 1 + CODE_LENGTH,
        frequencyCapped: 0,
        recipientsAfterCap: 2,
        // New Jersey numbers, the shop's default 21:00–08:00 in their zone: depends on the hour the test runs.
        deferredNow: expect.any(Number),
        // 21:00–08:00 against the floor's 21:00–08:00 always leaves them an instant.
        quietHoursSkipped: 0,
      });
      const quick = await post(shop, `/api/campaigns/${c.id}/preview`, { sendTiming: false });
      expect(quick.body).toMatchObject({ recipients: 2, credits: 2, frequencyCapped: null, recipientsAfterCap: null, deferredNow: null, quietHoursSkipped: null });
      const forGrace = await post(shop, `/api/campaigns/${c.id}/preview`, { contactId: grace.id });
      expect(forGrace.body.text).toBe('Hi Grace, news from Acme\nReply STOP to opt out');

      const q = await enqueue(shop, c.id);
      expect(q.status).toBe(202);
      expect(q.body.creditsReserved).toBe(plain.body.credits);
      expect(q.body.recipients).toBe(plain.body.recipients);
    });

    it('drops the footer when the shop turned it off, shows UCS-2, and 404s a contact of another shop', async () => {
      const shop = await createShop(env.db, { optOutFooter: false });
      const other = await createShop(env.db);
      const stranger = await createContact(env.db, other.id);
      const c = await createCampaign(env.db, shop.id, { body: 'Grüße 🎉 {{lastName|friend}}' });
      const res = await post(shop, `/api/campaigns/${c.id}/preview`);
      expect(res.body).toMatchObject({ text: 'Grüße 🎉 friend', encoding: 'UCS-2', characters: 14, segments: 1, recipients: 0, credits: 0 });
      const denied = await post(shop, `/api/campaigns/${c.id}/preview`, { contactId: stranger.id });
      expect(denied.status).toBe(404);
      expect((await post(shop, `/api/campaigns/${c.id}/preview`, { contactId: 'x' })).status).toBe(400);
    });

    it('404s an erased contact, as every read of it is (it rendered with the fallbacks, 200, as if the contact still existed)', async () => {
      const shop = await createShop(env.db);
      const gone = await createContact(env.db, shop.id, { firstName: 'Grace' });
      const c = await createCampaign(env.db, shop.id, { body: 'Hi {{firstName|there}}' });
      expect((await post(shop, `/api/campaigns/${c.id}/preview`, { contactId: gone.id })).body.text).toMatch(/^Hi Grace/);
      const erased = await request(app).delete(`/api/contacts/${gone.id}`).set('Authorization', await auth(shop));
      expect(erased.status).toBe(204);
      expect((await get(shop, `/api/contacts/${gone.id}`)).status).toBe(404);
      const res = await post(shop, `/api/campaigns/${c.id}/preview`, { contactId: gone.id });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    });
  });

  describe('enqueue', () => {
    it('reserves credits, moves to queued, writes the outbox event and publishes the launch job with the trace id', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      for (let i = 0; i < 3; i++) await createContact(env.db, shop.id, { tags: ['vip'] });
      await createContact(env.db, shop.id, { tags: ['other'] });
      await createContact(env.db, shop.id, { tags: ['vip'], consent: 'pending' });
      await createContact(env.db, shop.id, { tags: ['vip'], optedOut: true });
      const erased = await createContact(env.db, shop.id, { tags: ['vip'] });
      await env.db.$executeRaw`UPDATE contacts SET erased_at = now(), phone_e164 = NULL, first_name = NULL, last_name = NULL WHERE id = ${erased.id}::uuid`;
      const c = await createCampaign(env.db, shop.id, { body: 'Hello {{firstName}}', audience: { tags: ['vip', 'nobody'] } });
      const before = await metric('queued');

      const res = await request(app)
        .post(`/api/campaigns/${c.id}/enqueue`)
        .set('Authorization', await auth(shop))
        .set('Idempotency-Key', 'enqueue-1')
        .set('X-Request-Id', `trace-${c.id}`)
        .send({});
      expect(res.status).toBe(202);
      expect(res.headers['x-idempotency-stored']).toBe('true');
      expect(res.body).toEqual({ campaign: expect.objectContaining({ id: c.id, status: 'queued' }), recipients: 3, creditsReserved: 3 });

      expect(await campaignRow(c.id)).toMatchObject({ status: 'queued', segments_per_message: 1, total_recipients: 3, trace_id: `trace-${c.id}` });
      expect(await reservationOf(c.id)).toEqual([{ amount: 3, consumed: 0, released: 0, status: 'active', key: `campaign-${c.id}` }]);
      expect(await wallet(shop.id)).toEqual({ balance: 100, reserved: 3 });
      const events = await outboxOf(c.id);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ event_type: 'campaign.launch.v1', payload: { campaignId: c.id, shopId: shop.id }, trace_id: `trace-${c.id}` });
      expect(events[0]!.published_at).not.toBeNull();
      const job = await deps.queues.get('campaigns').getJob(`launch-${c.id}`);
      expect(job?.name).toBe('campaign.launch.v1');
      expect(job?.data).toMatchObject({ campaignId: c.id, shopId: shop.id, traceId: `trace-${c.id}` });
      expect(await metric('queued')).toBe(before + 1);
    });

    it('a campaign with a future scheduledAt becomes scheduled, its event available at that time', async () => {
      const shop = await createShop(env.db, { credits: 10 });
      await createContact(env.db, shop.id);
      const at = new Date(Date.now() + 24 * 3600_000);
      const c = await createCampaign(env.db, shop.id, { scheduledAt: at });
      const before = await metric('scheduled');
      const res = await enqueue(shop, c.id);
      expect(res.status).toBe(202);
      expect(res.body.campaign).toMatchObject({ status: 'scheduled', scheduledAt: at.toISOString() });
      const [event] = await outboxOf(c.id);
      expect(event!.available_at.toISOString()).toBe(at.toISOString());
      const job = await deps.queues.get('campaigns').getJob(`launch-${c.id}`);
      expect(await job?.getState()).toBe('delayed');
      expect(await metric('scheduled')).toBe(before + 1);
    });

    it('a launch racing a PATCH of a scheduled campaign\'s audience materialises the audience the PATCH acknowledged', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      for (let i = 0; i < 5; i++) await createContact(env.db, shop.id, { tags: ['old'] });
      const vip = await createContact(env.db, shop.id, { tags: ['vip'] });
      const at = new Date(Date.now() + 3600_000);
      const c = await createCampaign(env.db, shop.id, { audience: { tags: ['old'] }, scheduledAt: at });
      expect((await enqueue(shop, c.id)).body).toMatchObject({ recipients: 5 });
      // The PATCH commits after the launch read the campaign, before its first chunk.
      let patched: request.Response | undefined;
      const racing = new Proxy(env.db, {
        get(target, prop, receiver) {
          if (prop !== '$transaction') return Reflect.get(target, prop, receiver) as unknown;
          return async (...args: Parameters<Db['$transaction']>) => {
            if (!patched) patched = await patch(shop, `/api/campaigns/${c.id}`, { audience: { tags: ['vip'] } });
            return target.$transaction(...args);
          };
        },
      }) as Db;
      await launchCampaign({ db: racing, producer: deps.producer, now: () => new Date(at.getTime() + 1_000), batchSize: 100 }, { campaignId: c.id, shopId: shop.id, traceId: 'race' });
      expect(patched?.status).toBe(200);
      expect(patched?.body).toMatchObject({ status: 'scheduled', audience: { tags: ['vip'] } });
      const rows = await env.db.$queryRaw<{ contact_id: string }[]>`SELECT contact_id FROM campaign_recipients WHERE campaign_id = ${c.id}::uuid`;
      expect(rows.map((r) => r.contact_id)).toEqual([vip.id]);
      const [held] = await reservationOf(c.id);
      expect(held!.amount - held!.released).toBe(1);
    });

    it('a launch whose first chunk races a PATCH moving the campaign later does not start it: it waits for the new time', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      await createContact(env.db, shop.id);
      const at = new Date(Date.now() + 3600_000);
      const c = await createCampaign(env.db, shop.id, { scheduledAt: at });
      expect((await enqueue(shop, c.id)).status).toBe(202);
      const later = new Date(Date.now() + 5 * 3600_000);
      // The PATCH commits inside the launch's first chunk: after the chunk read the campaign
      // (still due), before its guarded UPDATE moves it to sending (a PATCH needs only the row,
      // which the chunk does not lock until then).
      let patched: request.Response | undefined;
      const inChunk = (tx: object): object =>
        new Proxy(tx, {
          get(target, prop) {
            const value = Reflect.get(target, prop, target) as unknown;
            if (prop !== '$executeRawUnsafe' || typeof value !== 'function') return value;
            return async (query: string, ...rest: unknown[]) => {
              if (!patched && query.includes('enable_bitmapscan')) patched = await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: later.toISOString() });
              return (value as (q: string, ...r: unknown[]) => Promise<unknown>).call(target, query, ...rest);
            };
          },
        });
      const racing = new Proxy(env.db, {
        get(target, prop, receiver) {
          if (prop !== '$transaction') return Reflect.get(target, prop, receiver) as unknown;
          return (fn: (tx: object) => Promise<unknown>, opts?: object) => target.$transaction((tx) => fn(inChunk(tx)), opts as never);
        },
      }) as Db;
      const result = await launchCampaign({ db: racing, producer: deps.producer, now: () => new Date(at.getTime() + 1_000), batchSize: 100 }, { campaignId: c.id, shopId: shop.id, traceId: 'race' });
      expect(patched?.status).toBe(200);
      expect(patched?.body).toMatchObject({ status: 'scheduled', scheduledAt: later.toISOString() });
      expect(result).toEqual({ outcome: 'deferred', until: later, reason: 'scheduled' });
      expect(await campaignRow(c.id)).toMatchObject({ status: 'scheduled' });
      const [r] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${c.id}::uuid`;
      expect(Number(r!.n)).toBe(0);
    });

    it('moving a scheduled campaign earlier brings its launch job forward; moving it later leaves the job (the launch waits for the new time)', async () => {
      const shop = await createShop(env.db, { credits: 10 });
      await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id, { scheduledAt: new Date(Date.now() + 2 * 3600_000) });
      expect((await enqueue(shop, c.id)).status).toBe(202);
      const dueAt = async (): Promise<number> => {
        const job = await deps.queues.get('campaigns').getJob(`launch-${c.id}`);
        expect(await job?.getState()).toBe('delayed');
        return job!.timestamp + job!.delay;
      };
      const earlier = new Date(Date.now() + 10 * 60_000);
      expect((await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: earlier.toISOString() })).status).toBe(200);
      expect(Math.abs((await dueAt()) - earlier.getTime())).toBeLessThan(2_000);
      const later = new Date(Date.now() + 5 * 3600_000);
      expect((await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: later.toISOString() })).status).toBe(200);
      expect(Math.abs((await dueAt()) - earlier.getTime())).toBeLessThan(2_000);
    });

    it('moved earlier twice some time after its enqueue, the launch job is due at the last time asked, not at the one before', async () => {
      const shop = await createShop(env.db, { credits: 10 });
      await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id, { scheduledAt: new Date(Date.now() + 2 * 3600_000) });
      expect((await enqueue(shop, c.id)).status).toBe(202);
      // When the job is really due: its score in the delayed set (due ms × 0x1000 + a tie-breaker).
      const queue = deps.queues.get('campaigns');
      const dueAt = async (): Promise<number> => {
        const score = await deps.redis.zscore(queue.toKey('delayed'), `launch-${c.id}`);
        expect(score).not.toBeNull();
        return Math.floor(Number(score) / 0x1000);
      };
      // The merchant comes back later (here 1.5 s; in life hours or days) and moves it earlier:
      // BullMQ's changeDelay counts the job's `delay` from now, its `timestamp` stays the enqueue's.
      await new Promise((r) => setTimeout(r, 1_500));
      const first = new Date(Date.now() + 60 * 60_000);
      expect((await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: first.toISOString() })).status).toBe(200);
      expect(Math.abs((await dueAt()) - first.getTime())).toBeLessThan(500);
      // Then a second earlier still, by less than the time since the enqueue (the bug read the
      // job as due at timestamp + delay, 1.5 s too early, so it saw nothing to bring forward).
      const second = new Date(first.getTime() - 1_000);
      const res = await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: second.toISOString() });
      expect(res.body).toMatchObject({ status: 'scheduled', scheduledAt: second.toISOString() });
      expect(Math.abs((await dueAt()) - second.getTime())).toBeLessThan(500);
    });

    it('reserves a safe upper bound: at least the exact segments of every rendered message', async () => {
      const shop = await createShop(env.db, { credits: 10_000 });
      await env.db.$executeRaw`UPDATE shops SET name = 'Zürich Boutique' WHERE id = ${shop.id}::uuid`;
      const names: [string | null, string | null][] = [
        ['Al', 'Bo'], [null, null], ['   ', 'X'], ['Ångström-Lindqvist', 'Ó Súilleabháin'], ['€uro{}[]', 'Ext~^|'],
        ['Zoë', '李'], ['😀😀😀', 'Emoji'], ['A'.repeat(100), 'B'.repeat(100)],
      ];
      for (const [firstName, lastName] of names) await createContact(env.db, shop.id, { firstName, lastName });
      const body = 'Dear {{firstName|valued customer}} {{lastName}}, {{shopName}} has a deal: ' + 'x'.repeat(120);
      const c = await createCampaign(env.db, shop.id, { body });
      const res = await enqueue(shop, c.id);
      expect(res.status).toBe(202);
      const t = (parseTemplate(body) as { ok: true; template: ParsedTemplate }).template;
      const exact = names.reduce((sum, [firstName, lastName]) => {
        const text = withFooter(renderTemplate(t, { firstName, lastName, shopName: 'Zürich Boutique' }), true);
        return sum + countSegments(text).segments;
      }, 0);
      expect(res.body.recipients).toBe(names.length);
      expect(res.body.creditsReserved).toBeGreaterThanOrEqual(exact);
      const spm = (await campaignRow(c.id)).segments_per_message!;
      expect(res.body.creditsReserved).toBe(spm * names.length);
    });

    it('402 INSUFFICIENT_CREDITS rolls everything back; the same key executes again once credits are there', async () => {
      const shop = await createShop(env.db, { credits: 1 });
      for (let i = 0; i < 3; i++) await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id, { body: 'hello' });
      const before = await metric('insufficient_credits');
      const res = await enqueue(shop, c.id, 'short-key');
      expect(res.status).toBe(402);
      expect(res.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', details: { needed: 3, available: 1 } });
      expect(await campaignRow(c.id)).toMatchObject({ status: 'draft', segments_per_message: null, trace_id: null });
      expect(await reservationOf(c.id)).toEqual([]);
      expect(await outboxOf(c.id)).toEqual([]);
      expect(await wallet(shop.id)).toEqual({ balance: 1, reserved: 0 });
      expect(await metric('insufficient_credits')).toBe(before + 1);

      await grantCredits(env.db, shop.id, 10);
      const retry = await enqueue(shop, c.id, 'short-key');
      expect(retry.status).toBe(202);
      expect(retry.headers['x-idempotency-replay']).toBeUndefined();
      expect(await wallet(shop.id)).toEqual({ balance: 11, reserved: 3 });
    });

    it('a queued, sending, completed or cancelled campaign with a NEW key is 409 INVALID_STATE', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id);
      expect((await enqueue(shop, c.id)).status).toBe(202);
      const before = await metric('invalid_state');
      const again = await enqueue(shop, c.id);
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status: 'queued' } });
      for (const status of ['sending', 'completed', 'cancelled', 'failed']) {
        const other = await createCampaign(env.db, shop.id, { status });
        const res = await enqueue(shop, other.id);
        expect(res.status).toBe(409);
        expect(res.body.error.details).toEqual({ status });
      }
      expect(await outboxOf(c.id)).toHaveLength(1);
      expect(await reservationOf(c.id)).toHaveLength(1);
      expect(await metric('invalid_state')).toBe(before + 5);
    });

    it('requires an Idempotency-Key and writes nothing without one', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      const c = await createCampaign(env.db, shop.id);
      const res = await post(shop, `/api/campaigns/${c.id}/enqueue`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
      expect(await campaignRow(c.id)).toMatchObject({ status: 'draft' });
      const withBody = await post(shop, `/api/campaigns/${c.id}/enqueue`, { unexpected: 1 }, 'k');
      expect(withBody.status).toBe(400);
      expect(withBody.body.error.code).toBe('VALIDATION_FAILED');
    });

    it('does no per-recipient work: a 5 000-contact audience is counted, not materialised', async () => {
      const shop = await createShop(env.db, { credits: 20_000 });
      await createContactsBulk(env.db, shop.id, 5_000, { startAt: 500_000 });
      const c = await createCampaign(env.db, shop.id, { body: 'Hi {{firstName}}' });
      const res = await enqueue(shop, c.id);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ recipients: 5_000, creditsReserved: 5_000 });
      const [r] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${c.id}::uuid`;
      expect(Number(r!.n)).toBe(0);
    });

    it('an empty audience enqueues with nothing reserved', async () => {
      const shop = await createShop(env.db);
      const c = await createCampaign(env.db, shop.id, { audience: { tags: ['nobody-has-this'] } });
      const res = await enqueue(shop, c.id);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ recipients: 0, creditsReserved: 0 });
    });

    it('re-enqueue and edits of a scheduled campaign keep its one reservation equal to the need', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      for (let i = 0; i < 4; i++) await createContact(env.db, shop.id);
      const at = new Date(Date.now() + 3600_000);
      const c = await createCampaign(env.db, shop.id, { body: 'short', scheduledAt: at });
      expect((await enqueue(shop, c.id)).body).toMatchObject({ creditsReserved: 4, campaign: { status: 'scheduled' } });

      // A two-segment body doubles the need: the reservation is topped up.
      const long = await patch(shop, `/api/campaigns/${c.id}`, { body: 'y'.repeat(200) });
      expect(long.status).toBe(200);
      expect(long.body.status).toBe('scheduled');
      expect(await wallet(shop.id)).toEqual({ balance: 100, reserved: 8 });
      expect(await reservationOf(c.id)).toEqual([expect.objectContaining({ amount: 8, released: 0, status: 'active' })]);

      // A narrower audience releases the excess from the same reservation.
      const narrow = await patch(shop, `/api/campaigns/${c.id}`, { audience: { tags: ['none'] } });
      expect(narrow.status).toBe(200);
      expect(await wallet(shop.id)).toEqual({ balance: 100, reserved: 0 });
      expect(await reservationOf(c.id)).toEqual([expect.objectContaining({ amount: 8, released: 8, status: 'active' })]);

      // A past time is refused while scheduled; a later one writes a launch event for it.
      expect((await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: new Date(Date.now() - 1000).toISOString() })).status).toBe(400);
      expect((await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: null })).status).toBe(400);
      const later = new Date(at.getTime() + 3600_000);
      expect((await patch(shop, `/api/campaigns/${c.id}`, { scheduledAt: later.toISOString(), audience: {} })).status).toBe(200);
      const events = await outboxOf(c.id);
      expect(events.map((e) => e.available_at.toISOString())).toEqual([at.toISOString(), later.toISOString()]);
      expect(await wallet(shop.id)).toEqual({ balance: 100, reserved: 8 });

      // Re-enqueue with a new key recomputes against the same reservation.
      const re = await enqueue(shop, c.id);
      expect(re.status).toBe(202);
      expect(re.body).toMatchObject({ creditsReserved: 8, campaign: { status: 'scheduled' } });
      expect(await wallet(shop.id)).toEqual({ balance: 100, reserved: 8 });
      expect(await reservationOf(c.id)).toHaveLength(1);

      // A top-up the wallet cannot cover is 402 and changes nothing.
      await createContact(env.db, shop.id);
      // 1600 Cyrillic letters + footer = 1622 UCS-2 units = 25 segments, × 5 recipients.
      const huge = await patch(shop, `/api/campaigns/${c.id}`, { body: 'ж'.repeat(1600) });
      expect(huge.status).toBe(402);
      expect(huge.body.error.details).toEqual({ needed: 125, available: 100 });
      expect((await get(shop, `/api/campaigns/${c.id}`)).body.body).toBe('y'.repeat(200));
      expect(await wallet(shop.id)).toEqual({ balance: 100, reserved: 8 });
    });
  });

  describe('cancel', () => {
    it('cancels a queued campaign and releases its whole reservation at once', async () => {
      const shop = await createShop(env.db, { credits: 50 });
      for (let i = 0; i < 5; i++) await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id);
      await enqueue(shop, c.id);
      expect(await wallet(shop.id)).toEqual({ balance: 50, reserved: 5 });
      const res = await cancel(shop, c.id);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: c.id, status: 'cancelled' });
      expect((await campaignRow(c.id)).cancelled_at).not.toBeNull();
      expect(await wallet(shop.id)).toEqual({ balance: 50, reserved: 0 });
      expect(await reservationOf(c.id)).toEqual([expect.objectContaining({ amount: 5, released: 5, status: 'closed' })]);
    });

    it('cancels a sending campaign: pending → cancelled, keeping back only what in-flight sends may use', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      const contacts = [];
      for (let i = 0; i < 6; i++) contacts.push(await createContact(env.db, shop.id));
      const c = await createCampaign(env.db, shop.id, { body: 'z'.repeat(200) });
      expect((await enqueue(shop, c.id)).body.creditsReserved).toBe(12);
      // What a launch and a send batch would have left: 3 pending, 2 in flight, 1 sent (2 segments consumed).
      await env.db.$executeRaw`UPDATE campaigns SET status = 'sending', started_at = now() WHERE id = ${c.id}::uuid`;
      for (const [i, contact] of contacts.entries()) {
        const status = i < 3 ? 'pending' : i < 5 ? 'sending' : 'sent';
        await env.db.$executeRaw`
          INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, claim_token, lease_until, provider_message_id, segments)
          VALUES (${c.id}::uuid, ${contact.id}::uuid, 0, ${status},
                  ${status === 'sending' ? randomUUID() : null}::uuid, ${status === 'sending' ? new Date(Date.now() + 60_000) : null},
                  ${status === 'sent' ? `pm-${i}` : null}, ${status === 'sent' ? 2 : null}::smallint)`;
      }
      await env.db.$executeRaw`UPDATE credit_reservations SET consumed = 2 WHERE campaign_id = ${c.id}::uuid`;
      await env.db.$executeRaw`UPDATE credit_wallets SET reserved = reserved - 2, balance = balance - 2 WHERE shop_id = ${shop.id}::uuid`;

      const res = await cancel(shop, c.id);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('cancelled');
      const stats = await get(shop, `/api/campaigns/${c.id}/stats`);
      expect(stats.body).toMatchObject({
        status: 'cancelled', total: 6, pending: 0, sending: 2, sent: 1, cancelled: 3,
        creditsReserved: 12, creditsDebited: 2, creditsReleased: 6,
      });
      // 2 in flight × 2 segments stay reserved until completion closes the reservation.
      expect(await wallet(shop.id)).toEqual({ balance: 98, reserved: 4 });
      expect(await reservationOf(c.id)).toEqual([expect.objectContaining({ status: 'active', amount: 12, consumed: 2, released: 6 })]);
    });

    it('an already cancelled campaign answers 200 as it is; a completed one is 409; the key is required', async () => {
      const shop = await createShop(env.db);
      const c = await createCampaign(env.db, shop.id);
      const first = await cancel(shop, c.id);
      expect(first.status).toBe(200);
      const second = await cancel(shop, c.id);
      expect(second.status).toBe(200);
      expect(second.body).toEqual(first.body);
      const done = await createCampaign(env.db, shop.id, { status: 'completed' });
      const denied = await cancel(shop, done.id);
      expect(denied.status).toBe(409);
      expect(denied.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status: 'completed' } });
      const noKey = await post(shop, `/api/campaigns/${c.id}/cancel`);
      expect(noKey.status).toBe(400);
      expect(noKey.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    });
  });

  describe('stats', () => {
    it('counts recipients by status in one shape, zeros before launch', async () => {
      const shop = await createShop(env.db, { credits: 10 });
      await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id);
      const draft = await get(shop, `/api/campaigns/${c.id}/stats`);
      expect(draft.body).toEqual({
        status: 'draft', total: 0, pending: 0, sending: 0, sent: 0, delivered: 0, failed: 0, skipped: 0, cancelled: 0, unknown: 0,
        creditsReserved: 0, creditsDebited: 0, creditsReleased: 0, startedAt: null, completedAt: null, skippedFrequencyCap: 0, skippedQuietHours: 0, deferred: 0, deferredUntil: null,
        messagesSent: 0, clicks: 0, uniqueClicks: 0, botClicks: 0, clickRate: null, attributedOrders: 0, attributedRevenue: [],
      });
      await enqueue(shop, c.id);
      const queued = await get(shop, `/api/campaigns/${c.id}/stats`);
      expect(queued.body).toMatchObject({ status: 'queued', total: 0, creditsReserved: 1 });
    });
  });

  it.each([
    ['year 0000', { from: '0000-01-01T00:00:00Z' }],
    ['past 9999 once in UTC', { to: '9999-12-31T23:00:00-05:00' }],
  ])('an audience lastOrderAt %s is a 400 on create and on update, never a later 500', async (_label, lastOrderAt) => {
    const shop = await createShop(env.db, { credits: 10 });
    const created = await post(shop, '/api/campaigns', { name: 'x', body: 'hi', audience: { lastOrderAt } });
    expect(created.status).toBe(400);
    expect(created.body.error.code).toBe('VALIDATION_FAILED');
    const c = await createCampaign(env.db, shop.id);
    const patched = await patch(shop, `/api/campaigns/${c.id}`, { audience: { lastOrderAt } });
    expect(patched.status).toBe(400);
    // An audience stored that way before this check (no API writes one now) reads as no bound: enqueue still answers.
    await env.db.$executeRaw`UPDATE campaigns SET audience = ${JSON.stringify({ lastOrderAt })}::jsonb WHERE id = ${c.id}::uuid`;
    await createContact(env.db, shop.id);
    expect((await post(shop, `/api/campaigns/${c.id}/preview`, {})).status).toBe(200);
    expect((await enqueue(shop, c.id)).status).toBe(202);
  });

  it('an enqueue racing a PATCH of ignoreSmartSending answers (and replays) what it wrote, never the value read before', async () => {
    const shop = await createShop(env.db, { credits: 10 });
    await createContact(env.db, shop.id);
    const c = await createCampaign(env.db, shop.id);
    // The PATCH commits between the enqueue's read and its guarded statement.
    let hook: (() => Promise<void>) | null = async () => {
      expect((await patch(shop, `/api/campaigns/${c.id}`, { ignoreSmartSending: true })).status).toBe(200);
    };
    const racing = new Proxy(createDb(env.config), {
      get(target, prop, receiver) {
        if (prop !== '$queryRaw') return Reflect.get(target, prop, receiver) as unknown;
        return async (q: TemplateStringsArray, ...v: unknown[]) => {
          if (hook && q.join('').includes('moved AS')) {
            const h = hook;
            hook = null;
            await h();
          }
          return target.$queryRaw(q, ...v);
        };
      },
    }) as Db;
    const { app: racingApp } = await env.api({ db: racing });
    const key = randomUUID();
    const send = async () => request(racingApp).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', await auth(shop)).set('Idempotency-Key', key).send({});
    const res = await send();
    expect(res.status).toBe(202);
    expect(hook).toBeNull();
    const row = (await get(shop, `/api/campaigns/${c.id}`)).body as { ignoreSmartSending: boolean };
    expect(row.ignoreSmartSending).toBe(true);
    expect(res.body.campaign.ignoreSmartSending).toBe(true);
    expect((await send()).body.campaign.ignoreSmartSending).toBe(true);
  });
});

describe('enqueue under backpressure', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ QUEUE_MAX_DEPTH: '2' });
  });
  afterAll(async () => {
    await env.close();
  });

  it('answers 503 OVERLOADED and writes nothing, not even the key; the same key works once the queues drain', async () => {
    const { app, deps } = await env.api();
    const shop = await createShop(env.db, { credits: 10 });
    await createContact(env.db, shop.id);
    const c = await createCampaign(env.db, shop.id);
    const sends = deps.queues.get('sends');
    await sends.add('filler', {}, { jobId: 'filler-1' });
    await deps.queues.get('campaigns').add('filler', {}, { jobId: 'filler-2' });
    await sends.add('filler', {}, { jobId: 'filler-3' });

    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const res = await request(app).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', auth).set('Idempotency-Key', 'busy').send({});
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('OVERLOADED');
    expect(res.headers['retry-after']).toBeDefined();
    const [keys] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM idempotency_keys`;
    expect(Number(keys!.n)).toBe(0);
    const [row] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${c.id}::uuid`;
    expect(row!.status).toBe('draft');
    const [side] = await env.db.$queryRaw<{ r: bigint; o: bigint }[]>`
      SELECT (SELECT count(*) FROM credit_reservations) AS r, (SELECT count(*) FROM outbox_events) AS o`;
    expect(side).toEqual({ r: 0n, o: 0n });
    const shed = (await deps.metrics.campaignsEnqueued.get()).values.find((v) => v.labels.outcome === 'overloaded');
    expect(shed?.value).toBe(1);

    // Another API process (its own depth cache) after the queues drained.
    await sends.obliterate({ force: true });
    await deps.queues.get('campaigns').obliterate({ force: true });
    const fresh = await env.api();
    const ok = await request(fresh.app).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', auth).set('Idempotency-Key', 'busy').send({});
    expect(ok.status).toBe(202);
  });

});

