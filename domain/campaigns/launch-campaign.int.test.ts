import { jobIds } from '../../queue/job-ids';
import { createContact, createContactsBulk, createShop } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { campaignStatus, disableQuietHours, moneyState, queuedCampaign, recipientCounts } from '../../test/sending';
import { launchCampaign, type LaunchDeps } from './launch-campaign';

describe('launchCampaign', () => {
  let env: TestEnv;
  let worker: ReturnType<TestEnv['workerDeps']>;
  const deps = (now: Date | (() => Date) = () => new Date(), batchSize = 100): LaunchDeps => ({
    db: env.db,
    producer: worker.producer,
    now: typeof now === 'function' ? now : () => now,
    batchSize,
  });

  beforeAll(async () => {
    env = await createTestEnv();
    worker = env.workerDeps();
  });
  afterAll(() => env.close());

  async function shopWithContacts(n: number, o: { timezone?: string; quiet?: boolean } = {}): Promise<string> {
    const shop = await createShop(env.db, { credits: 100_000, timezone: o.timezone });
    if (!o.quiet) await disableQuietHours(env.db, shop.id);
    if (n > 0) await createContactsBulk(env.db, shop.id, n);
    return shop.id;
  }

  it('materialises the audience once, with batch numbers that are a pure function of contact order, however often and concurrently it runs', async () => {
    const shopId = await shopWithContacts(450);
    const campaign = await queuedCampaign(env.db, shopId);
    const job = { campaignId: campaign.id, shopId, traceId: 'trace-launch' };
    const results = await Promise.all([launchCampaign(deps(), job), launchCampaign(deps(), job), launchCampaign(deps(), job)]);
    for (const r of results) expect(r).toEqual({ outcome: 'launched', recipients: 450, batches: 5, completed: false });

    // A contact added after the launch is not swept into the running campaign.
    await createContact(env.db, shopId);
    expect(await launchCampaign(deps(), job)).toEqual({ outcome: 'launched', recipients: 450, batches: 5, completed: false });

    const [check] = await env.db.$queryRaw<{ total: bigint; wrong: bigint }[]>`
      SELECT count(*) AS total,
             count(*) FILTER (WHERE r.batch_no <> (x.rank - 1) / 100) AS wrong
        FROM campaign_recipients r
        JOIN (SELECT id, row_number() OVER (ORDER BY contact_id) AS rank FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid) x ON x.id = r.id`;
    expect(check).toEqual({ total: 450n, wrong: 0n });
    const batches = await env.db.$queryRaw<{ batch_no: number; recipient_count: number; status: string }[]>`
      SELECT batch_no, recipient_count, status FROM campaign_batches WHERE campaign_id = ${campaign.id}::uuid ORDER BY batch_no`;
    expect(batches).toEqual([0, 1, 2, 3, 4].map((b) => ({ batch_no: b, recipient_count: b < 4 ? 100 : 50, status: 'pending' })));
    const [c] = await env.db.$queryRaw<{ status: string; total_recipients: number; started_at: Date | null }[]>`
      SELECT status, total_recipients, started_at FROM campaigns WHERE id = ${campaign.id}::uuid`;
    expect(c).toMatchObject({ status: 'sending', total_recipients: 450 });
    expect(c!.started_at).toBeInstanceOf(Date);

    // One job per batch, whatever the number of runs.
    const sends = worker.queues.get('sends');
    const waiting = (await sends.getJobs(['waiting', 'delayed', 'prioritized'])).filter((j) => j.data.campaignId === campaign.id);
    expect(waiting.map((j) => j.id).sort()).toEqual([0, 1, 2, 3, 4].map((b) => jobIds.sendBatch(campaign.id, b)).sort());
    expect(waiting.every((j) => j.data.traceId === 'trace-launch')).toBe(true);
  });

  it('takes only sendable contacts matching the audience tags', async () => {
    const shopId = await shopWithContacts(0);
    const vip = await createContact(env.db, shopId, { tags: ['vip', 'eu'] });
    await createContact(env.db, shopId, { tags: ['eu'] });
    await createContact(env.db, shopId, { tags: ['vip'], optedOut: true });
    await createContact(env.db, shopId, { tags: ['vip'], consent: 'unsubscribed' });
    await createContact(env.db, shopId, { tags: ['vip'], consent: 'pending' });
    const vip2 = await createContact(env.db, shopId, { tags: ['vip'] });
    const campaign = await queuedCampaign(env.db, shopId, { audience: { tags: ['vip'] } });
    const result = await launchCampaign(deps(), { campaignId: campaign.id, shopId, traceId: 't' });
    expect(result).toMatchObject({ outcome: 'launched', recipients: 2 });
    const rows = await env.db.$queryRaw<{ contact_id: string }[]>`SELECT contact_id FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid ORDER BY contact_id`;
    expect(rows.map((r) => r.contact_id)).toEqual([vip.id, vip2.id].sort());
  });

  it('completes a campaign with no recipients at once and releases its reservation', async () => {
    const shopId = await shopWithContacts(0);
    await createContact(env.db, shopId, { optedOut: true });
    const campaign = await queuedCampaign(env.db, shopId);
    // Enqueue reserved for a contact who has opted out since.
    await env.db.$transaction(async (tx) => {
      const { reserveCredits } = await import('../credits/reservations');
      await reserveCredits(tx, { shopId, campaignId: campaign.id, reservationKey: `campaign-${campaign.id}`, amount: 2 });
    });
    const result = await launchCampaign(deps(), { campaignId: campaign.id, shopId, traceId: 't' });
    expect(result).toEqual({ outcome: 'launched', recipients: 0, batches: 0, completed: true });
    expect(await campaignStatus(env.db, campaign.id)).toBe('completed');
    const money = await moneyState(env.db, shopId);
    expect(money).toMatchObject({ reserved: 0, activeRemaining: 0, debited: 0, balance: 100_000 });
    const [e] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM outbox_events WHERE event_type = 'campaign.completed.v1' AND aggregate_id = ${campaign.id}`;
    expect(e!.n).toBe(1n);
    // Running again completes nothing twice.
    expect(await launchCampaign(deps(), { campaignId: campaign.id, shopId, traceId: 't' })).toEqual({ outcome: 'ignored', status: 'completed' });
  });

  it('launches nothing for a cancelled or draft campaign', async () => {
    const shopId = await shopWithContacts(10);
    const campaign = await queuedCampaign(env.db, shopId);
    await env.db.$executeRaw`UPDATE campaigns SET status = 'cancelled' WHERE id = ${campaign.id}::uuid`;
    expect(await launchCampaign(deps(), { campaignId: campaign.id, shopId, traceId: 't' })).toEqual({ outcome: 'ignored', status: 'cancelled' });
    expect(await recipientCounts(env.db, campaign.id)).toEqual({});
    await env.db.$executeRaw`UPDATE campaigns SET status = 'draft' WHERE id = ${campaign.id}::uuid`;
    expect(await launchCampaign(deps(), { campaignId: campaign.id, shopId, traceId: 't' })).toEqual({ outcome: 'ignored', status: 'draft' });
    // Another shop's id never launches anything.
    const other = await shopWithContacts(0);
    expect(await launchCampaign(deps(), { campaignId: campaign.id, shopId: other, traceId: 't' })).toEqual({ outcome: 'ignored', status: 'missing' });
  });

  it('refuses to run before scheduled_at and re-delays itself to it', async () => {
    const shopId = await shopWithContacts(5);
    const at = new Date('2031-06-01T15:00:00Z');
    const campaign = await queuedCampaign(env.db, shopId, { scheduledAt: at });
    const job = { campaignId: campaign.id, shopId, traceId: 't' };
    expect(await launchCampaign(deps(new Date('2031-06-01T14:59:59Z')), job)).toEqual({ outcome: 'deferred', until: at, reason: 'scheduled' });
    expect(await campaignStatus(env.db, campaign.id)).toBe('scheduled');
    expect(await recipientCounts(env.db, campaign.id)).toEqual({});
    expect(await launchCampaign(deps(at), job)).toMatchObject({ outcome: 'launched', recipients: 5 });
  });

  it('a launch inside the shop\'s quiet hours still materialises: quiet hours are each recipient\'s, applied by the batch claim', async () => {
    const shopId = await shopWithContacts(5, { timezone: 'America/New_York', quiet: true });
    const campaign = await queuedCampaign(env.db, shopId);
    const job = { campaignId: campaign.id, shopId, traceId: 't' };
    // 03:00Z on 2026-03-08 is 22:00 EST, inside the shop's window.
    expect(await launchCampaign(deps(new Date('2026-03-08T03:00:00Z')), job)).toMatchObject({ outcome: 'launched', recipients: 5 });
    expect(await recipientCounts(env.db, campaign.id)).toEqual({ pending: 5 });
  });
});
