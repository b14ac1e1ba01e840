import { createContactsBulk, createShop } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { disableQuietHours, queuedCampaign, waitFor } from '../../test/sending';
import { ScanThrottle } from '../../lib/scan-throttle';
import { UNGUARDED } from '../idempotency/guard';
import { campaignStats } from './campaign-stats';
import { campaignTimeseries } from './campaign-timeseries';
import { cancelCampaign } from './cancel-campaign';
import { launchCampaign } from './launch-campaign';
import { previewCampaign } from './preview-campaign';

// The statistics and the chart of a large campaign are kept a while
// (lib/scan-throttle.ts); here "large" is one row, so a small campaign shows it.
describe('campaign reads that scan every recipient, throttled', () => {
  let env: TestEnv;
  let clock = 0;
  const scans = () => new ScanThrottle({ minRows: 1, msPerRow: 100, maxKeys: 100, now: () => clock });

  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });
  beforeEach(() => {
    clock = 1_000_000;
  });

  async function launched(contacts: number) {
    const shop = await createShop(env.db, { credits: 10_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, contacts);
    const campaign = await queuedCampaign(env.db, shop.id);
    const r = await launchCampaign({ db: env.db, producer: env.workerDeps().producer, now: () => new Date(), batchSize: 20 }, { campaignId: campaign.id, shopId: shop.id, traceId: 't' });
    expect(r.outcome).toBe('launched');
    return { shopId: shop.id, campaignId: campaign.id };
  }

  it('keeps the counts for msPerRow per recipient while the status, read every time, moves on', async () => {
    const { shopId, campaignId } = await launched(50);
    const t = scans();
    expect(await campaignStats(env.db, shopId, campaignId, { scans: t })).toMatchObject({ status: 'sending', total: 50, pending: 50, cancelled: 0 });
    await cancelCampaign(env.db, { shopId, campaignId, guard: UNGUARDED, now: new Date() });
    // Kept for 50 × 100 ms: the counts are the last scan's, the status is not.
    clock += 4_999;
    expect(await campaignStats(env.db, shopId, campaignId, { scans: t })).toMatchObject({ status: 'cancelled', total: 50, pending: 50, cancelled: 0 });
    // Due: this read starts the next count and is answered from the last; the count lands soon after.
    clock += 1;
    expect(await campaignStats(env.db, shopId, campaignId, { scans: t })).toMatchObject({ pending: 50, cancelled: 0 });
    await waitFor('the next count', async () => (await campaignStats(env.db, shopId, campaignId, { scans: t })).cancelled === 50);
    expect(await campaignStats(env.db, shopId, campaignId, { scans: t })).toMatchObject({ status: 'cancelled', total: 50, pending: 0, cancelled: 50 });
    // Without a throttle (the worker, the ops tools): always scanned.
    expect(await campaignStats(env.db, shopId, campaignId)).toMatchObject({ pending: 0, cancelled: 50 });
  });

  it('never answers another shop from what it keeps: the campaign is not found first', async () => {
    const { shopId, campaignId } = await launched(5);
    const other = await createShop(env.db);
    const t = scans();
    await campaignStats(env.db, shopId, campaignId, { scans: t });
    await campaignTimeseries(env.db, { shopId, campaignId, bucket: 'auto', now: new Date(), scans: t });
    await expect(campaignStats(env.db, other.id, campaignId, { scans: t })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(campaignTimeseries(env.db, { shopId: other.id, campaignId, bucket: 'auto', now: new Date(), scans: t })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps the chart per bucket width, by the messages it binned', async () => {
    const { shopId, campaignId } = await launched(10);
    const t = scans();
    const read = (bucket: '1s' | '1m') => campaignTimeseries(env.db, { shopId, campaignId, bucket, now: new Date(), scans: t });
    // Nothing sent yet: nothing binned, nothing kept.
    expect((await read('1s')).points.every((p) => p.sent === 0)).toBe(true);
    const sentAt = new Date(Date.now() - 60_000);
    await env.db.$executeRaw`UPDATE campaigns SET started_at = ${sentAt}, status = 'sending' WHERE id = ${campaignId}::uuid`;
    await env.db.$executeRaw`UPDATE campaign_recipients SET status = 'sent', sent_at = ${sentAt}, provider_message_id = 'p' || id, segments = 1 WHERE campaign_id = ${campaignId}::uuid AND batch_no = 0 AND id IN (SELECT id FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid ORDER BY id LIMIT 4)`;
    const first = await read('1s');
    expect(first.points.reduce((n, p) => n + p.sent, 0)).toBe(4);
    await env.db.$executeRaw`UPDATE campaign_recipients SET status = 'sent', sent_at = ${sentAt}, provider_message_id = 'p' || id, segments = 1 WHERE campaign_id = ${campaignId}::uuid AND status = 'pending'`;
    // 4 messages binned: kept 400 ms for this width; another width scans on its own.
    clock += 399;
    expect(await read('1s')).toEqual(first);
    expect((await read('1m')).points.reduce((n, p) => n + p.sent, 0)).toBe(10);
    clock += 1;
    const sent = async () => (await read('1s')).points.reduce((n, p) => n + p.sent, 0);
    expect(await sent()).toBe(4);
    await waitFor('the next binning', async () => (await sent()) === 10);
  });

  it("keeps the preview's send timing per audience, deciding quiet hours at each preview's own time", async () => {
    const shop = await createShop(env.db, { credits: 10_000 });
    await createContactsBulk(env.db, shop.id, 6);
    // Quiet 00:00–12:00 in each recipient's zone (+1 201: New Jersey), and the US 21:00–08:00 floor.
    await env.db.$executeRaw`UPDATE shops SET timezone = 'UTC', quiet_hours_start = '00:00', quiet_hours_end = '12:00', smart_sending_enabled = true WHERE id = ${shop.id}::uuid`;
    const campaign = await queuedCampaign(env.db, shop.id);
    const t = scans();
    const preview = (now: Date) => previewCampaign(env.db, { shopId: shop.id, campaignId: campaign.id, now, scans: t });
    const night = new Date('2026-12-07T03:00:00Z');
    expect(await preview(night)).toMatchObject({ recipients: 6, frequencyCapped: 0, deferredNow: 6 });
    // Two of them texted since: the kept pass (6 × 100 ms) does not see it yet; quiet hours are decided at this preview's time.
    await env.db.$executeRaw`
      INSERT INTO contact_send_slots (contact_id, shop_id, last_at)
      SELECT id, shop_id, now() FROM contacts WHERE shop_id = ${shop.id}::uuid ORDER BY id LIMIT 2
      ON CONFLICT (contact_id) DO UPDATE SET last_at = EXCLUDED.last_at`;
    // The last 20:00 UTC (15:00 in New Jersey: outside both windows) before the slots were taken, so they fall in its window.
    const afternoon = new Date(Date.now());
    afternoon.setUTCHours(20, 0, 0, 0);
    if (afternoon.getTime() > Date.now()) afternoon.setUTCDate(afternoon.getUTCDate() - 1);
    clock += 599;
    expect(await preview(afternoon)).toMatchObject({ frequencyCapped: 0, deferredNow: 0 });
    clock += 1;
    await preview(afternoon);
    await waitFor('the next pass', async () => (await preview(afternoon)).frequencyCapped === 2);
    // Another shop's campaign is not found, whatever is kept.
    const other = await createShop(env.db);
    await expect(previewCampaign(env.db, { shopId: other.id, campaignId: campaign.id, now: afternoon, scans: t })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
