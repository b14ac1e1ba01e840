import type { SimulatorHandle } from '../../sms-simulator/src/simulator';
import type { MittoProvider } from '../../../domain/messaging/providers';
import { launchCampaign } from '../../../domain/campaigns/launch-campaign';
import { jobIds } from '../../../queue/job-ids';
import type { QueueName } from '../../../queue/names';
import type { WorkerDeps } from './deps';
import type { WorkerHost } from './worker-host';
import { createContactsBulk, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import {
  campaignStatus,
  disableQuietHours,
  moneyState,
  queuedCampaign,
  recipientCounts,
  sentSegments,
  SIM_API_KEY,
  simulatorProvider,
  startSimulator,
  waitFor,
} from '../../../test/sending';

// End to end through real BullMQ workers, Postgres and the in-process simulator.

// 151 fixed characters with the footer: names of 7–9 characters fit one
// segment, "Friend1000"+ (10 characters) needs two, so Σ segments is exact
// per recipient and below the reserved bound of 2 per message.
const BODY = `Hello {{firstName|there}}! ${'x'.repeat(105)} Sale ends soon.`;

describe('send pipeline (worker + simulator)', () => {
  let env: TestEnv;
  let sim: SimulatorHandle;
  let url: string;
  const providers: MittoProvider[] = [];
  const provider = (o: Parameters<typeof simulatorProvider>[1] = {}): MittoProvider => {
    const p = simulatorProvider(url, o);
    providers.push(p);
    return p;
  };

  beforeAll(async () => {
    ({ sim, url } = await startSimulator());
    // The worker's own provider (built from config) talks to the simulator too.
    env = await createTestEnv({ SMS_PROVIDER: 'simulator', SMS_PROVIDER_URL: url, SMS_PROVIDER_API_KEY: SIM_API_KEY });
  });
  afterAll(async () => {
    await env.close();
    for (const p of providers) p.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());
  // Each test's workers stop with it, so no job of one test runs on another's worker.
  const hosts: WorkerHost[] = [];
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close(2_000)));
  });
  const startWorker = async (queues: QueueName[], p?: MittoProvider): Promise<{ deps: WorkerDeps }> => {
    const w = await env.worker({ queues, overrides: p ? { provider: p } : {} });
    hosts.push(w.host);
    return w;
  };

  it('sends a 5 000-recipient campaign exactly once and debits exactly the segments sent', async () => {
    const shop = await createShop(env.db, { credits: 20_000, optOutFooter: true });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, 5_000);
    const campaign = await queuedCampaign(env.db, shop.id, { body: BODY, segmentsPerMessage: 2, traceId: 'trace-5k' });
    expect(campaign.reserved).toBe(10_000);

    const { deps } = await startWorker(['campaigns', 'sends']);
    const started = Date.now();
    await deps.producer.add('campaign.launch.v1', { traceId: 'trace-5k', campaignId: campaign.id, shopId: shop.id }, { jobId: jobIds.launch(campaign.id) });
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaign.id)) === 'completed', 30_000);
    const elapsedMs = Date.now() - started;
    process.stdout.write(`5 000-recipient campaign completed in ${elapsedMs} ms\n`);

    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 5_000 });
    const stats = sim.stats();
    expect(stats.uniqueReferences).toBe(5_000);
    expect(stats.messagesAccepted).toBe(5_000);
    expect(stats.duplicatesSuppressed).toBe(0);

    const segments = await sentSegments(env.db, campaign.id);
    // "Friend1000".."Friend4999" are 10 characters: two segments each.
    expect(segments).toBe(1_000 * 1 + 4_000 * 2);
    const money = await moneyState(env.db, shop.id);
    expect(money.debited).toBe(segments);
    expect(money.ledgerSum).toBe(money.balance);
    expect(money.balance).toBe(20_000 - segments);
    expect(money.reserved).toBe(0);
    expect(money.activeRemaining).toBe(0);
    const [reservation] = await env.db.$queryRaw<{ status: string; consumed: bigint; released: bigint }[]>`
      SELECT status, consumed, released FROM credit_reservations WHERE campaign_id = ${campaign.id}::uuid`;
    expect(reservation).toEqual({ status: 'closed', consumed: BigInt(segments), released: BigInt(10_000 - segments) });

    const [c] = await env.db.$queryRaw<{ total_recipients: number; started_at: Date | null; completed_at: Date | null }[]>`
      SELECT total_recipients, started_at, completed_at FROM campaigns WHERE id = ${campaign.id}::uuid`;
    expect(c!.total_recipients).toBe(5_000);
    expect(c!.started_at).not.toBeNull();
    expect(c!.completed_at).not.toBeNull();
    const [batches] = await env.db.$queryRaw<{ done: bigint; total: bigint }[]>`
      SELECT count(*) FILTER (WHERE status = 'done') AS done, count(*) AS total FROM campaign_batches WHERE campaign_id = ${campaign.id}::uuid`;
    expect(batches).toEqual({ done: 10n, total: 10n });
    const [outbox] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM outbox_events WHERE event_type = 'campaign.completed.v1' AND aggregate_id = ${campaign.id}`;
    expect(outbox!.n).toBe(1n);

    // The campaign's trace id reached the provider as X-Request-Id.
    const [first] = await env.db.$queryRaw<{ id: bigint }[]>`SELECT min(id) AS id FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid`;
    expect(sim.tracesFor(`r${first!.id}`).traceIds).toEqual(['trace-5k']);

    const metrics = await deps.metrics.registry.getSingleMetricAsString('sms_messages_total');
    expect(metrics).toContain('sms_messages_total{provider="simulator",status="sent"} 5000');
    expect(await deps.metrics.registry.getSingleMetricAsString('sms_segments_total')).toContain(`sms_segments_total ${segments}`);
    expect(await deps.metrics.registry.getSingleMetricAsString('sms_provider_request_duration_seconds')).toContain(
      'sms_provider_request_duration_seconds_count{provider="simulator",outcome="ok"} 10',
    );
    expect(await deps.metrics.registry.getSingleMetricAsString('job_duration_seconds')).toContain(
      'job_duration_seconds_count{queue="sends",job="campaign.send-batch.v1",outcome="completed"} 10',
    );
  });
  async function setup(contacts: number, traceId: string): Promise<{ shopId: string; campaignId: string }> {
    const shop = await createShop(env.db, { credits: contacts * 3 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, contacts);
    const campaign = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2, traceId });
    return { shopId: shop.id, campaignId: campaign.id };
  }

  async function expectExactlyOnce(shopId: string, campaignId: string, recipients: number): Promise<void> {
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaignId)) === 'completed', 30_000);
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: recipients });
    expect(sim.stats().messagesAccepted).toBe(recipients);
    expect(sim.stats().uniqueReferences).toBe(recipients);
    const [dupIds] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) - count(DISTINCT provider_message_id) AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid`;
    expect(dupIds!.n).toBe(0n);
    const segments = await sentSegments(env.db, campaignId);
    const money = await moneyState(env.db, shopId);
    expect(money.debited).toBe(segments);
    expect(money.ledgerSum).toBe(money.balance);
    expect(money.reserved).toBe(0);
    expect(money.activeRemaining).toBe(0);
  }

  it('launch run 3 times and every batch job added twice, on 2 workers: one send and one debit per recipient', async () => {
    const { shopId, campaignId } = await setup(2_000, 'trace-dup');
    const a = await startWorker(['sends'], provider());
    await startWorker(['sends'], provider());
    const launch = { db: env.db, producer: a.deps.producer, now: () => new Date(), batchSize: 500 };
    const job = { traceId: 'trace-dup', campaignId, shopId };
    const runs = await Promise.all([launchCampaign(launch, job), launchCampaign(launch, job), launchCampaign(launch, job)]);
    expect(runs.map((r) => r.outcome)).toEqual(['launched', 'launched', 'launched']);
    for (let batchNo = 0; batchNo < 4; batchNo++) {
      // A second copy under another id, so BullMQ really runs both.
      await a.deps.producer.add('campaign.send-batch.v1', { ...job, batchNo }, { jobId: `dup-${jobIds.sendBatch(campaignId, batchNo)}` });
    }
    await expectExactlyOnce(shopId, campaignId, 2_000);
    const batches = await env.db.$queryRaw<{ batch_no: number; n: bigint }[]>`
      SELECT batch_no, count(*) AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid GROUP BY batch_no ORDER BY batch_no`;
    expect(batches).toEqual([0, 1, 2, 3].map((b) => ({ batch_no: b, n: 500n })));
    const [debits] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND type = 'debit'`;
    expect(Number(debits!.n)).toBeLessThanOrEqual(8);
  });

  it('provider 429: the queue pauses and the job is retried without burning attempts', async () => {
    const { shopId, campaignId } = await setup(1_000, 'trace-429');
    sim.setFaults({ rateLimitRate: 1 });
    const { deps } = await startWorker(['campaigns', 'sends'], provider());
    await deps.producer.add('campaign.launch.v1', { traceId: 'trace-429', campaignId, shopId }, { jobId: jobIds.launch(campaignId) });
    await waitFor('three rate-limited requests', () => sim.stats().requests >= 3);
    sim.setFaults({});
    await expectExactlyOnce(shopId, campaignId, 1_000);
    expect(await deps.metrics.registry.getSingleMetricAsString('job_failures_total')).not.toContain('campaign.send-batch.v1');
    expect(await deps.metrics.registry.getSingleMetricAsString('job_duration_seconds')).toContain('outcome="rate_limited"');
    for (const batchNo of [0, 1]) {
      const j = await deps.queues.get('sends').getJob(jobIds.sendBatch(campaignId, batchNo));
      expect(j?.attemptsMade ?? 0).toBeLessThanOrEqual(1);
    }
  });

  it('provider 5xx: released, retried with backoff, and all sent exactly once', async () => {
    const { shopId, campaignId } = await setup(1_000, 'trace-5xx');
    sim.setFaults({ errorRate: 1 });
    const { deps } = await startWorker(['campaigns', 'sends'], provider());
    await deps.producer.add('campaign.launch.v1', { traceId: 'trace-5xx', campaignId, shopId }, { jobId: jobIds.launch(campaignId) });
    await waitFor('two failed requests', () => sim.stats().requests >= 2);
    sim.setFaults({});
    await expectExactlyOnce(shopId, campaignId, 1_000);
    expect(await deps.metrics.registry.getSingleMetricAsString('job_failures_total')).toContain('job="campaign.send-batch.v1"');
  });

  it('accept-then-hang: the timeout makes the outcome unknown, the re-send reuses the reference, one SMS each', async () => {
    const { shopId, campaignId } = await setup(1_000, 'trace-hang');
    sim.setFaults({ hangRate: 1 });
    const { deps } = await startWorker(['campaigns', 'sends'], provider({ timeoutMs: 300 }));
    await deps.producer.add('campaign.launch.v1', { traceId: 'trace-hang', campaignId, shopId }, { jobId: jobIds.launch(campaignId) });
    await waitFor('a hanging request', () => sim.detail().hangingRequests >= 1);
    sim.setFaults({});
    await expectExactlyOnce(shopId, campaignId, 1_000);
    // What hung was accepted once; its re-send was answered from the provider's dedup.
    expect(sim.stats().duplicatesSuppressed).toBeGreaterThanOrEqual(500);
  });
});
