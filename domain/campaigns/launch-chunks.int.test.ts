import { jobIds } from '../../queue/job-ids';
import { isCheckViolation } from '../../lib/pg-errors';
import { createContactsBulk, createShop } from '../../test/factories';
import { useSimulatedSends } from '../../test/harness';
import { campaignStatus, disableQuietHours, moneyState, queuedCampaign, recipientCounts } from '../../test/sending';
import { UNGUARDED } from '../idempotency/guard';
import { runReconciliation } from '../reconciliation/run-reconciliation';
import { cancelCampaign } from './cancel-campaign';
import { completeCampaignIfDone } from './complete-campaign';
import { launchCampaign, type LaunchDeps } from './launch-campaign';
import { sendBatch } from './send-batch';

// The launch in chunks (launch-campaign.ts): a launch killed between chunks
// resumes from the campaign's cursor, nothing is inserted or sent twice, and
// the campaign cannot complete before its last chunk.
describe('launchCampaign in chunks', () => {
  const t = useSimulatedSends();

  // Batches of 100, chunks of one batch: 450 contacts take five chunks.
  const deps = (o: Partial<LaunchDeps> = {}): LaunchDeps => ({ db: t.env.db, producer: t.worker.producer, now: () => new Date(), batchSize: 100, firstChunk: 100, maxChunk: 100, ...o });
  const send = (job: { campaignId: string; shopId: string; traceId: string }, batchNo: number) =>
    sendBatch({ db: t.env.db, provider: t.provider, now: () => new Date(), leaseMs: 60_000, phoneHashKey: t.env.config.PHONE_HASH_KEY, quietHoursFloor: t.env.config.SMS_QUIET_HOURS_FLOOR }, { ...job, batchNo });

  async function campaignWith(contacts: number) {
    const shop = await createShop(t.env.db, { credits: 100_000 });
    await disableQuietHours(t.env.db, shop.id);
    await createContactsBulk(t.env.db, shop.id, contacts);
    const campaign = await queuedCampaign(t.env.db, shop.id, { segmentsPerMessage: 2 });
    return { shopId: shop.id, campaignId: campaign.id, job: { campaignId: campaign.id, shopId: shop.id, traceId: `trace-${campaign.id}` } };
  }

  async function launchState(campaignId: string) {
    const [c] = await t.env.db.$queryRaw<{ status: string; materialising: boolean; launch_next_batch: number; total_recipients: number; recipients: bigint; contacts: bigint; batches: bigint; cursor_ok: boolean }[]>`
      SELECT c.status, c.materialising, c.launch_next_batch, c.total_recipients,
             (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS recipients,
             (SELECT count(DISTINCT r.contact_id) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS contacts,
             (SELECT count(*) FROM campaign_batches b WHERE b.campaign_id = c.id) AS batches,
             c.launch_cursor IS NOT DISTINCT FROM (SELECT r.contact_id FROM campaign_recipients r WHERE r.campaign_id = c.id ORDER BY r.contact_id DESC LIMIT 1) AS cursor_ok
        FROM campaigns c WHERE c.id = ${campaignId}::uuid`;
    return { ...c!, recipients: Number(c!.recipients), contacts: Number(c!.contacts), batches: Number(c!.batches) };
  }

  async function sendJobIds(campaignId: string): Promise<string[]> {
    const jobs = await t.worker.queues.get('sends').getJobs(['waiting', 'delayed', 'prioritized']);
    return jobs.filter((j) => j.data.campaignId === campaignId).map((j) => String(j.id)).sort();
  }

  it('a launch killed after its second chunk resumes from its cursor: every contact one recipient row and one message, completed only after the last chunk', async () => {
    const { shopId, campaignId, job } = await campaignWith(450);

    // Chunks 0 and 1 commit and their jobs are added; the process dies before chunk 2.
    await expect(launchCampaign(deps({ afterChunk: (k) => { if (k === 1) throw new Error('SIGKILL'); } }), job)).rejects.toThrow('SIGKILL');
    expect(await launchState(campaignId)).toMatchObject({ status: 'sending', materialising: true, launch_next_batch: 2, recipients: 200, contacts: 200, batches: 2, cursor_ok: true });
    // Sending started before the launch finished.
    expect(await sendJobIds(campaignId)).toEqual([0, 1].map((b) => jobIds.sendBatch(campaignId, b)).sort());

    // Both batches send; the campaign is not complete, whatever its batches say.
    for (const b of [0, 1]) expect(await send(job, b)).toMatchObject({ outcome: 'done' });
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ sent: 200 });
    expect(await completeCampaignIfDone(t.env.db, { campaignId, now: new Date() })).toEqual({ completed: false, released: 0 });
    expect(await campaignStatus(t.env.db, campaignId)).toBe('sending');
    expect((await moneyState(t.env.db, shopId)).activeRemaining).toBeGreaterThan(0);
    // Postgres refuses it too.
    const direct = await t.env.db.$executeRaw`UPDATE campaigns SET status = 'completed' WHERE id = ${campaignId}::uuid`.catch((e: unknown) => e);
    expect(isCheckViolation(direct)).toBe(true);

    // Reconciliation sees a launch stopped half-way once it has been quiet for a lease, and gives it its job back.
    await t.env.db.$executeRaw`UPDATE campaigns SET last_activity_at = now() - interval '1 hour' WHERE id = ${campaignId}::uuid`;
    const report = await runReconciliation({ ...t.worker, now: () => new Date() }, { campaignId });
    expect(report.repairs.launch_requeued).toBe(1);
    expect(await t.worker.queues.get('campaigns').getJob(jobIds.launch(campaignId))).toBeDefined();

    // The job resumes after the cursor.
    expect(await launchCampaign(deps(), job)).toEqual({ outcome: 'launched', recipients: 450, batches: 5, completed: false });
    expect(await launchState(campaignId)).toMatchObject({ status: 'sending', materialising: false, launch_next_batch: 5, total_recipients: 450, recipients: 450, contacts: 450, batches: 5, cursor_ok: true });
    expect(await sendJobIds(campaignId)).toEqual([0, 1, 2, 3, 4].map((b) => jobIds.sendBatch(campaignId, b)).sort());
    // Every sendable contact of the shop exactly once, batch numbers in contact order across chunks.
    const [check] = await t.env.db.$queryRaw<{ missing: bigint; misnumbered: bigint }[]>`
      SELECT (SELECT count(*) FROM contacts a WHERE a.shop_id = ${shopId}::uuid
                 AND NOT EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = ${campaignId}::uuid AND r.contact_id = a.id)) AS missing,
             (SELECT count(*) FROM (SELECT batch_no, row_number() OVER (ORDER BY contact_id) AS rank FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid) x
               WHERE x.batch_no <> (x.rank - 1) / 100) AS misnumbered`;
    expect(check).toEqual({ missing: 0n, misnumbered: 0n });

    // Every batch job runs (0 and 1 again, as their surviving jobs would): one message per contact.
    for (const b of [0, 1, 2, 3, 4]) await send(job, b);
    expect(t.sim.stats().messagesAccepted).toBe(450);
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ sent: 450 });
    expect(await campaignStatus(t.env.db, campaignId)).toBe('completed');
    const m = await moneyState(t.env.db, shopId);
    expect(m.ledgerSum).toBe(m.balance);
    expect(m.reserved).toBe(0);

    // A late run of the launch changes nothing.
    expect(await launchCampaign(deps(), job)).toEqual({ outcome: 'ignored', status: 'completed' });
  });

  it('concurrent runs split nothing twice: chunks are serialised and each run ends with the same campaign', async () => {
    const { campaignId, job } = await campaignWith(450);
    const results = await Promise.all([launchCampaign(deps(), job), launchCampaign(deps(), job), launchCampaign(deps({ firstChunk: 200, maxChunk: 300 }), job)]);
    // Which run inserted which chunk depends on timing; the campaign does not.
    for (const r of results) expect(r).toMatchObject({ outcome: 'launched', recipients: 450, batches: 5 });
    expect(await launchState(campaignId)).toMatchObject({ materialising: false, recipients: 450, contacts: 450, batches: 5, total_recipients: 450, cursor_ok: true });
    expect(await sendJobIds(campaignId)).toEqual([0, 1, 2, 3, 4].map((b) => jobIds.sendBatch(campaignId, b)).sort());
  });

  it('an audience that is a whole number of chunks ends with an empty chunk that completes the campaign if its batches are done', async () => {
    const { campaignId, job } = await campaignWith(200);
    await expect(launchCampaign(deps({ afterChunk: (k) => { if (k === 1) throw new Error('SIGKILL'); } }), job)).rejects.toThrow('SIGKILL');
    for (const b of [0, 1]) await send(job, b);
    expect(await campaignStatus(t.env.db, campaignId)).toBe('sending');
    expect(await launchCampaign(deps(), job)).toEqual({ outcome: 'launched', recipients: 200, batches: 2, completed: true });
    expect(await campaignStatus(t.env.db, campaignId)).toBe('completed');
  });

  it('a campaign cancelled between chunks gets no further recipients', async () => {
    const { shopId, campaignId, job } = await campaignWith(450);
    const cancelAfterFirst = async (k: number): Promise<void> => {
      if (k === 0) await cancelCampaign(t.env.db, { shopId, campaignId, guard: UNGUARDED, now: new Date() });
    };
    expect(await launchCampaign(deps({ afterChunk: cancelAfterFirst }), job)).toEqual({ outcome: 'ignored', status: 'cancelled' });
    expect(await launchState(campaignId)).toMatchObject({ status: 'cancelled', recipients: 100, batches: 1 });
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ cancelled: 100 });
  });
});
