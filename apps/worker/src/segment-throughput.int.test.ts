import type { SimulatorHandle } from '../../sms-simulator/src/simulator';
import { jobIds } from '../../../queue/job-ids';
import type { WorkerDeps } from './deps';
import type { WorkerHost } from './worker-host';
import { createContactsBulk, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { campaignStatus, disableQuietHours, queuedCampaign, recipientCounts, sentSegments, SIM_API_KEY, startSimulator, waitFor } from '../../../test/sending';

// SMS_PROVIDER_MPS counted in segments, across processes: two worker hosts
// (each its own Redis connections, BullMQ workers and limiter, as two
// processes would have) send one campaign of 2-segment messages to the
// simulator, which measures the segments/s it received.

const MPS = 200;
// 200 GSM characters: two segments each, for every recipient.
const BODY = `Spring sale: ${'y'.repeat(170)} ends Sunday.`;

describe('SMS_PROVIDER_MPS in segments across workers', () => {
  let env: TestEnv;
  let sim: SimulatorHandle;
  const hosts: WorkerHost[] = [];

  beforeAll(async () => {
    let url: string;
    ({ sim, url } = await startSimulator());
    env = await createTestEnv({
      SMS_PROVIDER: 'simulator',
      SMS_PROVIDER_URL: url,
      SMS_PROVIDER_API_KEY: SIM_API_KEY,
      SMS_PROVIDER_MPS: String(MPS),
      // Many small batches, so both workers take part all the way through.
      SEND_BATCH_SIZE: '20',
    });
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.close(2_000)));
    await env.close();
    await sim.stop();
  });

  it('two workers together send at the configured segments/s (±10 %), a 2-segment message counting 2', async () => {
    const recipients = 900; // 1 800 segments: 9 s at 200/s
    const shop = await createShop(env.db, { credits: recipients * 3 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, recipients);
    const campaign = await queuedCampaign(env.db, shop.id, { body: BODY, segmentsPerMessage: 2, traceId: 'trace-mps' });

    const jobsBy = [0, 0];
    const workers: WorkerDeps[] = [];
    for (const i of [0, 1]) {
      const { host, deps: w } = await env.worker({ queues: i === 0 ? ['campaigns', 'sends'] : ['sends'] });
      hosts.push(host);
      workers.push(w);
      for (const w of host.workers) w.on('completed', (job) => (job.name === 'campaign.send-batch.v1' ? jobsBy[i]!++ : undefined));
    }
    const deps = env.workerDeps();
    await deps.producer.add('campaign.launch.v1', { traceId: 'trace-mps', campaignId: campaign.id, shopId: shop.id }, { jobId: jobIds.launch(campaign.id) });
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaign.id)) === 'completed', 40_000, 100);

    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: recipients });
    expect(await sentSegments(env.db, campaign.id)).toBe(recipients * 2);
    const t = sim.throughput();
    expect(t.segmentsAccepted).toBe(recipients * 2);
    process.stdout.write(
      `SMS_PROVIDER_MPS=${MPS}: simulator observed ${t.segmentsPerSecond} segments/s over ${t.firstSendAt} → ${t.lastSendAt} ` +
        `(batches per worker: ${jobsBy.join(' + ')})\n`,
    );
    // Both workers sent; together they kept to the rate.
    expect(jobsBy[0]).toBeGreaterThan(0);
    expect(jobsBy[1]).toBeGreaterThan(0);
    expect(t.segmentsPerSecond).not.toBeNull();
    expect(Math.abs(t.segmentsPerSecond! - MPS) / MPS).toBeLessThanOrEqual(0.1);
    // Every batch waited for its segments (they were granted, none gave up).
    const waits = await Promise.all(workers.map((w) => w.metrics.registry.getSingleMetricAsString('sms_provider_throttle_wait_seconds')));
    const count = (text: string, outcome: string) => Number(new RegExp(`sms_provider_throttle_wait_seconds_count\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(waits.reduce((n, w) => n + count(w, 'sent'), 0)).toBe(jobsBy[0]! + jobsBy[1]!);
    expect(waits.reduce((n, w) => n + count(w, 'gave_up'), 0)).toBe(0);
  }, 60_000);
});
