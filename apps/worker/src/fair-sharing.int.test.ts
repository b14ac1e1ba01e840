import type { Job } from 'bullmq';
import type { SimulatorHandle } from '../../sms-simulator/src/simulator';
import type { WorkerHost } from './worker-host';
import { jobIds } from '../../../queue/job-ids';
import { createContactsBulk, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { campaignStatus, disableQuietHours, queuedCampaign, recipientCounts, SIM_API_KEY, startSimulator, waitFor } from '../../../test/sending';
import { runReconciliation } from '../../../domain/reconciliation/run-reconciliation';
import { batchPriorities } from '../../../domain/campaigns/batch-priorities';
import { launchCampaign, type LaunchDeps } from '../../../domain/campaigns/launch-campaign';

// Fair sharing between shops (docs/architecture.md, "Fair sharing"): a send
// job's priority is its batch's place in its shop's queue, so a small
// campaign of one shop is not queued behind every batch of another shop's
// big campaign. Asserted on the queue's contents and on the order in which a
// real worker finishes the batches, never on wall-clock time.
describe('fair sharing of the sends queue between shops', () => {
  let env: TestEnv;
  let sim: SimulatorHandle;
  const hosts: WorkerHost[] = [];

  beforeAll(async () => {
    const started = await startSimulator();
    sim = started.sim;
    env = await createTestEnv({ SMS_PROVIDER: 'simulator', SMS_PROVIDER_URL: started.url, SMS_PROVIDER_API_KEY: SIM_API_KEY, SEND_BATCH_SIZE: '20' });
  });
  afterAll(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close(2_000)));
    await env.close();
    await sim.stop();
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close(2_000)));
    // Nothing of one test is left queued for the next.
    await env.workerDeps().queues.get('sends').obliterate({ force: true });
  });

  async function shopCampaign(contacts: number) {
    const shop = await createShop(env.db, { credits: 1_000_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, contacts);
    const campaign = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2 });
    return { shopId: shop.id, campaignId: campaign.id, traceId: `trace-${campaign.id}` };
  }

  const launchDeps = (producer: LaunchDeps['producer']): LaunchDeps => ({ db: env.db, producer, now: () => new Date(), batchSize: 20 });

  /** The sends queue in the order a worker takes it: the plain wait list first, then the prioritized set by score. */
  async function queueOrder(): Promise<string[]> {
    const q = env.workerDeps().queues.get('sends');
    const waiting = await q.getJobs(['waiting'], 0, -1, false);
    const prioritized = await q.getJobs(['prioritized'], 0, -1, true);
    return [...waiting, ...prioritized].map((j) => String(j.id));
  }

  it("a second shop's small campaign is queued among the first batches, not behind all 30 of the big one's", async () => {
    const big = await shopCampaign(600); // 30 batches
    const small = await shopCampaign(50); // 3 batches
    const { producer } = env.workerDeps();
    expect(await launchCampaign(launchDeps(producer), big)).toMatchObject({ outcome: 'launched', batches: 30 });
    expect(await launchCampaign(launchDeps(producer), small)).toMatchObject({ outcome: 'launched', batches: 3 });

    const order = await queueOrder();
    expect(order).toHaveLength(33);
    const bigId = (b: number): string => jobIds.sendBatch(big.campaignId, b);
    const smallId = (b: number): string => jobIds.sendBatch(small.campaignId, b);
    // Place by place, shops alternate (FIFO among equal places): the small
    // campaign's 3 batches are 2nd, 4th and 6th, not 31st to 33rd as in one FIFO.
    expect(order.slice(0, 7)).toEqual([bigId(0), smallId(0), bigId(1), smallId(1), bigId(2), smallId(2), bigId(3)]);
    expect(order.slice(7)).toEqual(Array.from({ length: 26 }, (_, i) => bigId(i + 4)));
  });

  it("a shop's own campaigns queue after each other: its second campaign takes the places after its first one's open batches", async () => {
    const first = await shopCampaign(200); // 10 batches
    const { producer } = env.workerDeps();
    await launchCampaign(launchDeps(producer), first);
    // A second campaign of the same shop, launched a moment later.
    const second = await queuedCampaign(env.db, first.shopId, { segmentsPerMessage: 2 });
    const job = { shopId: first.shopId, campaignId: second.id, traceId: `trace-${second.id}` };
    await launchCampaign(launchDeps(producer), job);
    const places = await batchPriorities(env.db, { campaignId: second.id, shopId: first.shopId, batchNos: null });
    expect(places.map((p) => p.priority)).toEqual(Array.from({ length: 10 }, (_, i) => 11 + i));
    const q = env.workerDeps().queues.get('sends');
    expect((await q.getJob(jobIds.sendBatch(second.id, 0)))?.opts.priority).toBe(11);
    // Another shop starting now is not behind either of them.
    const other = await shopCampaign(20);
    await launchCampaign(launchDeps(producer), other);
    expect((await q.getJob(jobIds.sendBatch(other.campaignId, 0)))?.opts.priority).toBe(1);
  });

  it('reconciliation re-adds a lost batch job at its place in its shop\'s queue now, not at the front', async () => {
    const big = await shopCampaign(200); // 10 batches
    const { producer, queues } = env.workerDeps();
    await launchCampaign(launchDeps(producer), big);
    // Batches 0–3 are done; batch 7's job was lost (Redis failover).
    await env.db.$executeRaw`UPDATE campaign_batches SET status = 'done' WHERE campaign_id = ${big.campaignId}::uuid AND batch_no < 4`;
    await env.db.$executeRaw`UPDATE campaign_recipients SET status = 'sent', provider_message_id = 'x' || id, segments = 1, final_at = now() WHERE campaign_id = ${big.campaignId}::uuid AND batch_no < 4`;
    await (await queues.get('sends').getJob(jobIds.sendBatch(big.campaignId, 7)))!.remove();
    const report = await runReconciliation({ ...env.workerDeps(), now: () => new Date() }, { campaignId: big.campaignId });
    expect(report.repairs.batch_job_missing).toBe(1);
    const readded = await queues.get('sends').getJob(jobIds.sendBatch(big.campaignId, 7));
    expect(await readded?.getState()).toBe('prioritized');
    // Open batches 4..9: batch 7 is the shop's 4th.
    expect(readded?.opts.priority).toBe(4);
  });

  it("while a big campaign sends, a second shop's campaign is sent within the batches in flight, not after the big campaign's backlog", async () => {
    const big = await shopCampaign(4_000); // 200 batches
    const small = await shopCampaign(20); // 1 batch
    const { host, deps } = await env.worker({ queues: ['sends'] });
    hosts.push(host);
    const taken: string[] = [];
    const finished: string[] = [];
    for (const w of host.workers) {
      w.on('active', (job: Job) => void taken.push(`${job.data.campaignId}:${job.data.batchNo}`));
      w.on('completed', (job: Job) => void finished.push(`${job.data.campaignId}:${job.data.batchNo}`));
    }

    await launchCampaign(launchDeps(deps.producer), big);
    await waitFor('the big campaign sending', async () => finished.length >= 3, 30_000);
    await launchCampaign(launchDeps(deps.producer), small);
    // Its job was added before the launch returned: from then on it is the
    // next one taken (a big-campaign batch queued at place 1 before it, FIFO
    // among equals, is the only other candidate).
    const takenAtAdd = taken.length;
    const doneAtAdd = finished.length;
    await waitFor('the small campaign completed', async () => (await campaignStatus(env.db, small.campaignId)) === 'completed', 30_000);
    const key = `${small.campaignId}:0`;
    expect(taken.indexOf(key)).toBeGreaterThanOrEqual(0);
    expect(taken.indexOf(key)).toBeLessThanOrEqual(takenAtAdd + 1);
    await waitFor('the big campaign completed', async () => (await campaignStatus(env.db, big.campaignId)) === 'completed', 120_000);
    // In one FIFO every big batch queued at the add would have gone first;
    // here all but those in flight (8 per worker) finished after it.
    const at = finished.indexOf(key);
    expect(finished.length - at - 1).toBeGreaterThanOrEqual(200 - doneAtAdd - 16);
    expect(await recipientCounts(env.db, big.campaignId)).toEqual({ sent: 4_000 });
    expect(await recipientCounts(env.db, small.campaignId)).toEqual({ sent: 20 });
    process.stdout.write(`fair sharing: ${doneAtAdd} big batches done when the small campaign's job was added, ${at - doneAtAdd} more before it finished, ${finished.length - at - 1} after\n`);
  });
});
