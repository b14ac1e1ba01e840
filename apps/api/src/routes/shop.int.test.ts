import request from 'supertest';
import type { Express } from 'express';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { sessionToken } from '../../../../test/session-token';

describe('shop settings API', () => {
  let env: TestEnv;
  let app: Express;
  const domain = 'settings-shop.myshopify.com';
  const auth = async () => `Bearer ${await sessionToken(domain)}`;

  beforeAll(async () => {
    env = await createTestEnv({ SMS_DEFAULT_SENDER: 'MyStore' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const patch = async (body: unknown) => request(app).patch('/api/shop').set('Authorization', await auth()).send(body as object);

  it('GET /api/shop provisions a new shop with the defaults', async () => {
    const res = await request(app).get('/api/shop').set('Authorization', await auth());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      domain,
      status: 'active',
      timezone: 'UTC',
      quietHours: { start: '21:00', end: '08:00' },
      optOutFooter: true,
      senderId: 'MyStore',
      attribution: { clickWindowHours: 120, viewWindowHours: 24 },
      smartSending: { enabled: true, windowHours: 16 },
      legalQuietHours: { start: '21:00', end: '08:00', appliesTo: ['US', 'CA'] },
      quietHoursWarning: null,
    });
  });

  it('PATCH /api/shop keeps quiet hours that leave US/CA numbers no sending time, and says so until they change', async () => {
    const allDay = await patch({ quietHours: { start: '07:00', end: '22:00' } });
    expect(allDay.status).toBe(200);
    expect(allDay.body).toMatchObject({ quietHours: { start: '07:00', end: '22:00' }, quietHoursWarning: { code: 'NO_SENDING_TIME_FOR_US_CA' } });
    expect(allDay.body.quietHoursWarning.message).toContain('US and Canadian numbers are never texted');
    const got = await request(app).get('/api/shop').set('Authorization', await auth());
    expect(got.body.quietHoursWarning).toEqual(allDay.body.quietHoursWarning);
    // 08:00–21:00 is the floor's exact complement: nothing left either.
    expect((await patch({ quietHours: { start: '08:00', end: '21:00' } })).body.quietHoursWarning).toMatchObject({ code: 'NO_SENDING_TIME_FOR_US_CA' });
    // A minute of the floor's day left open is a sending time.
    expect((await patch({ quietHours: { start: '08:00', end: '20:59' } })).body.quietHoursWarning).toBeNull();
    expect((await patch({ quietHours: { start: '21:00', end: '08:00' } })).body.quietHoursWarning).toBeNull();
  });

  it('POST /api/shop/quiet-hours/preview answers the warning PATCH would, for quiet hours not saved, and saves nothing', async () => {
    const preview = async (body: unknown) => request(app).post('/api/shop/quiet-hours/preview').set('Authorization', await auth()).send(body as object);
    const before = await request(app).get('/api/shop').set('Authorization', await auth());
    for (const quietHours of [
      { start: '07:00', end: '22:00' },
      { start: '08:00', end: '21:00' },
      { start: '08:00', end: '20:59' },
      { start: '21:00', end: '08:00' },
    ]) {
      const res = await preview({ quietHours });
      expect(res.status).toBe(200);
      // Same verdict and wording as saving them (one rule: get-shop.ts's quietHoursWarningFor).
      expect(res.body).toEqual({ quietHoursWarning: (await patch({ quietHours })).body.quietHoursWarning });
      await patch({ quietHours: before.body.quietHours });
    }
    expect((await preview({ quietHours: { start: '07:00', end: '22:00' } })).body.quietHoursWarning).toEqual({
      code: 'NO_SENDING_TIME_FOR_US_CA',
      message: expect.stringContaining('Quiet hours 07:00–22:00 together with the legal window'),
    });
    expect((await request(app).get('/api/shop').set('Authorization', await auth())).body).toEqual(before.body);
  });

  it.each([
    [{ quietHours: { start: '7:00', end: '22:00' } }, 'quietHours.start'],
    [{ quietHours: { start: '07:00', end: '07:00' } }, 'quietHours.end'],
    [{ quietHours: { start: '07:00' } }, 'quietHours.end'],
    [{}, 'quietHours'],
    [{ quietHours: { start: '07:00', end: '22:00' }, timezone: 'UTC' }, 'timezone'],
  ])('POST /api/shop/quiet-hours/preview %j is 400 VALIDATION_FAILED on %j, as PATCH would be', async (body, path) => {
    const res = await request(app).post('/api/shop/quiet-hours/preview').set('Authorization', await auth()).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: expect.arrayContaining([expect.objectContaining({ path })]) });
  });

  it('PATCH /api/shop sets smart sending, each field on its own; quiet hours may be narrowed, the legal floor stays', async () => {
    const res = await patch({ smartSending: { windowHours: 48 } });
    expect(res.status).toBe(200);
    expect(res.body.smartSending).toEqual({ enabled: true, windowHours: 48 });
    const off = await patch({ smartSending: { enabled: false } });
    expect(off.body.smartSending).toEqual({ enabled: false, windowHours: 48 });
    const narrow = await patch({ quietHours: { start: '23:00', end: '06:00' } });
    expect(narrow.body).toMatchObject({ quietHours: { start: '23:00', end: '06:00' }, legalQuietHours: { start: '21:00', end: '08:00' } });
    const back = await patch({ smartSending: { enabled: true, windowHours: 16 }, quietHours: { start: '21:00', end: '08:00' } });
    expect(back.body.smartSending).toEqual({ enabled: true, windowHours: 16 });
  });

  it('PATCH /api/shop sets the attribution windows, each on its own', async () => {
    const res = await patch({ attribution: { clickWindowHours: 48 } });
    expect(res.status).toBe(200);
    expect(res.body.attribution).toEqual({ clickWindowHours: 48, viewWindowHours: 24 });
    const off = await patch({ attribution: { viewWindowHours: 0 } });
    expect(off.body.attribution).toEqual({ clickWindowHours: 48, viewWindowHours: 0 });
    const back = await patch({ attribution: { clickWindowHours: 120, viewWindowHours: 24 } });
    expect(back.body.attribution).toEqual({ clickWindowHours: 120, viewWindowHours: 24 });
  });

  it('PATCH /api/shop changes the given settings and keeps the rest', async () => {
    const res = await patch({ timezone: 'america/new_york', quietHours: { start: '22:30', end: '07:15' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ timezone: 'America/New_York', quietHours: { start: '22:30', end: '07:15' }, optOutFooter: true, senderId: 'MyStore' });
    const next = await patch({ optOutFooter: false, senderId: '447700900123' });
    expect(next.body).toMatchObject({ timezone: 'America/New_York', optOutFooter: false, senderId: '447700900123' });
    const alias = await patch({ timezone: 'UTC', senderId: 'Shop2026' });
    expect(alias.body).toMatchObject({ timezone: 'UTC', senderId: 'Shop2026' });
    const got = await request(app).get('/api/shop').set('Authorization', await auth());
    expect(got.body).toEqual(alias.body);
  });

  it.each([
    [{ timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    [{ timezone: '+05:00' }, 'timezone'],
    [{ timezone: '' }, 'timezone'],
    [{ timezone: 5 }, 'timezone'],
    [{ quietHours: { start: '25:00', end: '08:00' } }, 'quietHours.start'],
    [{ quietHours: { start: '9:00', end: '08:00' } }, 'quietHours.start'],
    [{ quietHours: { start: '21:00' } }, 'quietHours.end'],
    [{ quietHours: { start: '08:00', end: '08:00' } }, 'quietHours.end'],
    [{ quietHours: { start: '21:00', end: '08:00', days: 'all' } }, 'quietHours.days'],
    [{ optOutFooter: 'yes' }, 'optOutFooter'],
    [{ senderId: 'TwelveChars1' }, 'senderId'],
    [{ senderId: 'My Store' }, 'senderId'],
    [{ senderId: '12' }, 'senderId'],
    [{ senderId: '1234567890123456' }, 'senderId'],
    [{ domain: 'other.myshopify.com' }, 'domain'],
    [{ attribution: { clickWindowHours: 0 } }, 'attribution.clickWindowHours'],
    [{ attribution: { clickWindowHours: 721 } }, 'attribution.clickWindowHours'],
    [{ attribution: { clickWindowHours: 1.5 } }, 'attribution.clickWindowHours'],
    [{ attribution: { viewWindowHours: -1 } }, 'attribution.viewWindowHours'],
    [{ attribution: { viewWindowHours: 169 } }, 'attribution.viewWindowHours'],
    [{ attribution: { viewWindowHours: '24' } }, 'attribution.viewWindowHours'],
    [{ attribution: { days: 5 } }, 'attribution.days'],
    [{ smartSending: { windowHours: 0 } }, 'smartSending.windowHours'],
    [{ smartSending: { windowHours: 169 } }, 'smartSending.windowHours'],
    [{ smartSending: { windowHours: 2.5 } }, 'smartSending.windowHours'],
    [{ smartSending: { enabled: 'yes' } }, 'smartSending.enabled'],
    [{ smartSending: { cooldown: 5 } }, 'smartSending.cooldown'],
  ])('PATCH %j is 400 VALIDATION_FAILED on %s and changes nothing', async (body, path) => {
    const before = await request(app).get('/api/shop').set('Authorization', await auth());
    const res = await patch(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    const after = await request(app).get('/api/shop').set('Authorization', await auth());
    expect(after.body).toEqual(before.body);
  });

  it('POST /api/shop/sync when the open sync ends between its insert and its read starts a new one: 202, never a 500', async () => {
    const syncDomain = 'sync-race-shop.myshopify.com';
    const syncAuth = `Bearer ${await sessionToken(syncDomain)}`;
    const shop = await request(app).get('/api/shop').set('Authorization', syncAuth);
    const shopId = shop.body.id as string;
    const [running] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO shop_syncs (shop_id, reason, status, started_at) VALUES (${shopId}::uuid, 'resync', 'running', now()) RETURNING id`;
    // The worker's finish commits right after the start's INSERT met the running sync and before its read of it:
    // a statement trigger makes that interleaving certain (it runs in the start's own transaction, which a read
    // committed snapshot of the next statement cannot tell from another's commit).
    await env.db.$executeRawUnsafe(`
      CREATE FUNCTION finish_open_sync_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE shop_syncs SET status = 'completed', finished_at = now() WHERE id = '${running!.id}'::uuid AND status = 'running';
        RETURN NULL;
      END $$`);
    await env.db.$executeRawUnsafe('CREATE TRIGGER finish_open_sync_once AFTER INSERT ON shop_syncs FOR EACH STATEMENT EXECUTE FUNCTION finish_open_sync_once()');
    try {
      const res = await request(app).post('/api/shop/sync').set('Authorization', syncAuth).send({});
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ status: 'queued', reason: 'resync' });
      expect(res.body.id).not.toBe(running!.id);
    } finally {
      await env.db.$executeRawUnsafe('DROP TRIGGER finish_open_sync_once ON shop_syncs');
      await env.db.$executeRawUnsafe('DROP FUNCTION finish_open_sync_once()');
    }
    const open = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shop_syncs WHERE shop_id = ${shopId}::uuid ORDER BY created_at`;
    expect(open.map((r) => r.status)).toEqual(['completed', 'queued']);
  });

  it('requires a session token', async () => {
    expect((await request(app).get('/api/shop')).status).toBe(401);
    expect((await request(app).patch('/api/shop').send({ optOutFooter: false })).status).toBe(401);
    expect((await request(app).post('/api/shop/quiet-hours/preview').send({ quietHours: { start: '07:00', end: '22:00' } })).status).toBe(401);
  });
});
