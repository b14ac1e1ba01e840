import request from 'supertest';
import type { Express } from 'express';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { MAX_BUCKETS } from '../../../../domain/campaigns/campaign-timeseries';

// GET /api/campaigns/:id/timeseries: messages over time, bucketed in SQL.
// Recipients are written with known timestamps (as the settle and the
// delivery reports write them), so every bucket's count is exact.

describe('GET /api/campaigns/:id/timeseries', () => {
  let env: TestEnv;
  let app: Express;
  // The api's clock, fixed (session tokens are checked against it too, so it is the real time of this run).
  const NOW = new Date();

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api({ now: () => NOW }));
  });
  afterAll(async () => {
    await env.close();
  });

  const get = async (shop: ShopFixture, path: string) => request(app).get(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);

  async function campaignWith(shop: ShopFixture, o: { status: string; startedAt: string | null; completedAt?: string | null }): Promise<string> {
    const c = await createCampaign(env.db, shop.id, { status: o.status });
    await env.db.$executeRaw`UPDATE campaigns SET started_at = ${o.startedAt}::timestamptz, completed_at = ${o.completedAt ?? null}::timestamptz WHERE id = ${c.id}::uuid`;
    return c.id;
  }

  /** `n` recipients of `campaignId` in `status`, sent at `sentAt`, ended at `finalAt`. */
  async function recipients(campaignId: string, n: number, status: string, sentAt: string | null, finalAt: string | null): Promise<void> {
    await env.db.$executeRaw`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, sent_at, final_at, segments, provider_message_id)
      SELECT ${campaignId}::uuid, gen_random_uuid(), 0, ${status}, ${sentAt}::timestamptz, ${finalAt}::timestamptz, 1,
             CASE WHEN ${sentAt}::timestamptz IS NOT NULL THEN 'pm-' || gen_random_uuid() END
        FROM generate_series(1, ${n}::int)`;
  }

  it('counts sent, delivered and failed per bucket, zero-filled from the launch to the end', async () => {
    const shop = await createShop(env.db);
    const id = await campaignWith(shop, { status: 'completed', startedAt: '2026-12-01T09:00:05Z', completedAt: '2026-12-01T09:04:10Z' });
    await recipients(id, 3, 'delivered', '2026-12-01T09:00:20Z', '2026-12-01T09:01:30Z');
    await recipients(id, 2, 'sent', '2026-12-01T09:00:50Z', null);
    await recipients(id, 1, 'failed', '2026-12-01T09:02:10Z', '2026-12-01T09:03:00Z'); // reported failed
    await recipients(id, 1, 'failed', null, '2026-12-01T09:02:40Z'); // refused at send
    // Neither sent nor ended: not drawn.
    await recipients(id, 4, 'skipped', null, '2026-12-01T09:00:30Z');
    await recipients(id, 2, 'pending', null, null);

    const res = await get(shop, `/api/campaigns/${id}/timeseries?bucket=1m`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      bucketSeconds: 60,
      from: '2026-12-01T09:00:00.000Z',
      to: '2026-12-01T09:05:00.000Z',
      points: [
        { at: '2026-12-01T09:00:00.000Z', sent: 5, delivered: 0, failed: 0 },
        { at: '2026-12-01T09:01:00.000Z', sent: 0, delivered: 3, failed: 0 },
        { at: '2026-12-01T09:02:00.000Z', sent: 1, delivered: 0, failed: 1 },
        { at: '2026-12-01T09:03:00.000Z', sent: 0, delivered: 0, failed: 1 },
        { at: '2026-12-01T09:04:00.000Z', sent: 0, delivered: 0, failed: 0 },
      ],
    });
    // The totals are the stats' own.
    const stats = (await get(shop, `/api/campaigns/${id}/stats`)).body;
    const sum = (k: 'sent' | 'delivered' | 'failed') => (res.body.points as Record<string, number>[]).reduce((n, p) => n + p[k]!, 0);
    expect(sum('delivered')).toBe(stats.delivered);
    expect(sum('failed')).toBe(stats.failed);
    expect(sum('sent')).toBe(stats.sent + stats.delivered + 1); // the reported failure was sent first
  });

  it('auto picks the finest width drawing the span in at most 60 buckets', async () => {
    const shop = await createShop(env.db);
    const id = await campaignWith(shop, { status: 'completed', startedAt: '2026-12-01T09:00:00Z', completedAt: '2026-12-01T09:00:40Z' });
    await recipients(id, 10, 'sent', '2026-12-01T09:00:12Z', null);
    const auto = await get(shop, `/api/campaigns/${id}/timeseries`);
    expect(auto.status).toBe(200);
    expect(auto.body.bucketSeconds).toBe(1);
    expect(auto.body.points).toHaveLength(41);
    expect(auto.body.points[12]).toEqual({ at: '2026-12-01T09:00:12.000Z', sent: 10, delivered: 0, failed: 0 });

    // A campaign whose delivery reports trail for two days: hours, not seconds.
    const long = await campaignWith(shop, { status: 'completed', startedAt: '2026-11-28T09:00:00Z', completedAt: '2026-11-28T09:10:00Z' });
    await recipients(long, 1, 'delivered', '2026-11-28T09:00:01Z', '2026-11-30T08:00:00Z');
    const wide = (await get(shop, `/api/campaigns/${long}/timeseries`)).body;
    expect(wide.bucketSeconds).toBe(3600);
    expect(wide.points.length).toBeLessThanOrEqual(60);
    expect(wide.points.reduce((n: number, p: { delivered: number }) => n + p.delivered, 0)).toBe(1);
  });

  it(`a width too fine for the span is widened: never more than ${MAX_BUCKETS} buckets`, async () => {
    const shop = await createShop(env.db);
    const id = await campaignWith(shop, { status: 'completed', startedAt: '2026-11-01T00:00:00Z', completedAt: '2026-11-20T00:00:00Z' });
    await recipients(id, 2, 'delivered', '2026-11-01T00:00:01Z', '2026-11-19T23:59:59Z');
    const res = await get(shop, `/api/campaigns/${id}/timeseries?bucket=1s`);
    expect(res.status).toBe(200);
    expect(res.body.bucketSeconds).toBe(3600);
    expect(res.body.points.length).toBeLessThanOrEqual(MAX_BUCKETS);
    expect(res.body.points.reduce((n: number, p: { sent: number }) => n + p.sent, 0)).toBe(2);
  });

  it('a sending campaign runs up to now; a draft has nothing to draw', async () => {
    const shop = await createShop(env.db);
    const bin = Math.floor(NOW.getTime() / 30_000) * 30_000;
    const at = (ms: number) => new Date(ms).toISOString();
    const live = await campaignWith(shop, { status: 'sending', startedAt: at(bin - 90_000) });
    await recipients(live, 4, 'sent', at(bin - 75_000), null);
    const res = (await get(shop, `/api/campaigns/${live}/timeseries?bucket=30s`)).body;
    expect(res.points.map((p: { at: string }) => p.at)).toEqual([at(bin - 90_000), at(bin - 60_000), at(bin - 30_000), at(bin)]);
    expect(res.points[0].sent).toBe(4);

    const draft = await createCampaign(env.db, shop.id);
    expect((await get(shop, `/api/campaigns/${draft.id}/timeseries`)).body).toEqual({ bucketSeconds: null, from: null, to: null, points: [] });
  });

  it("another shop's campaign is 404; an unknown bucket or field is 400", async () => {
    const owner = await createShop(env.db);
    const other = await createShop(env.db);
    const id = await campaignWith(owner, { status: 'completed', startedAt: '2026-12-01T09:00:00Z', completedAt: '2026-12-01T09:01:00Z' });
    await recipients(id, 1, 'sent', '2026-12-01T09:00:10Z', null);
    const res = await get(other, `/api/campaigns/${id}/timeseries`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(JSON.stringify(res.body)).not.toContain('sent');
    const bad = await get(owner, `/api/campaigns/${id}/timeseries?bucket=2m`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: 'bucket' })] });
    expect((await get(owner, `/api/campaigns/${id}/timeseries?from=x`)).status).toBe(400);
    expect((await get(owner, '/api/campaigns/not-a-uuid/timeseries')).status).toBe(404);
  });
});
