import type { Job } from 'bullmq';
import type { SimulatorHandle } from '../../sms-simulator/src/simulator';
import type { MittoProvider } from '../../../domain/messaging/providers';
import { dispatchOutbox, writeOutboxEvent } from '../../../domain/outbox/outbox';
import { jobIds } from '../../../queue/job-ids';
import { createContactsBulk, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { campaignStatus, queuedCampaign, recipientCounts, simulatorProvider, startSimulator, waitFor } from '../../../test/sending';

// Quiet hours and schedules through real workers with an injected clock: the
// jobs move to BullMQ's delayed set until the right instant, never run early.

describe('campaign timing (worker, injected clock)', () => {
  let env: TestEnv;
  let sim: SimulatorHandle;
  let p: MittoProvider;
  // 22:00 EST on the eve of the 2026 spring-forward; quiet hours end 08:00 EDT = 12:00Z.
  let clock = new Date('2026-03-08T03:00:00Z');

  beforeAll(async () => {
    env = await createTestEnv();
    let url: string;
    ({ sim, url } = await startSimulator());
    p = simulatorProvider(url);
  });
  afterAll(async () => {
    await env.close();
    p.close();
    await sim.stop();
  });

  async function stateOf(job: Job | undefined): Promise<string> {
    return job ? job.getState() : 'missing';
  }

  it('a launch inside quiet hours is delayed to their end, and a promoted job still does not send early', async () => {
    const shop = await createShop(env.db, { credits: 1_000, timezone: 'America/New_York' });
    await createContactsBulk(env.db, shop.id, 30);
    const campaign = await queuedCampaign(env.db, shop.id);
    const { deps } = await env.worker({ queues: ['campaigns', 'sends'], overrides: { provider: p, now: () => clock } });
    const launchId = jobIds.launch(campaign.id);
    await deps.producer.add('campaign.launch.v1', { traceId: 't-quiet', campaignId: campaign.id, shopId: shop.id }, { jobId: launchId });
    const queue = deps.queues.get('campaigns');
    await waitFor('launch delayed', async () => (await stateOf(await queue.getJob(launchId))) === 'delayed');
    const delayed = await queue.getJob(launchId);
    // 9 hours from the injected 03:00Z to 12:00Z, give or take the test's own runtime.
    expect(Math.abs((delayed?.delay ?? 0) - 9 * 3_600_000)).toBeLessThan(60_000);
    expect(delayed?.attemptsMade).toBe(0);
    expect(await recipientCounts(env.db, campaign.id)).toEqual({});

    // Someone promotes it while it is still night: it goes straight back to waiting.
    clock = new Date('2026-03-08T11:59:00Z');
    await delayed!.promote();
    await waitFor('launch delayed again', async () => {
      const j = await queue.getJob(launchId);
      return (await stateOf(j)) === 'delayed' && (j?.delay ?? 0) < 120_000;
    });
    expect(sim.stats().requests).toBe(0);
    expect(await campaignStatus(env.db, campaign.id)).toBe('queued');

    // Morning: the same job launches and the campaign is sent.
    clock = new Date('2026-03-08T12:00:00Z');
    await (await queue.getJob(launchId))!.promote();
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaign.id)) === 'completed');
    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 30 });
    expect(sim.stats().messagesAccepted).toBe(30);
  });

  it('a scheduled campaign is published as a delayed launch job, and an early run re-delays itself to scheduled_at', async () => {
    clock = new Date('2031-01-01T12:00:00Z');
    const shop = await createShop(env.db, { credits: 1_000 });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00' WHERE id = ${shop.id}::uuid`;
    await createContactsBulk(env.db, shop.id, 3);
    const at = new Date(clock.getTime() + 3_600_000);
    const campaign = await queuedCampaign(env.db, shop.id, { scheduledAt: at });
    const { deps } = await env.worker({ queues: ['campaigns', 'sends'], overrides: { provider: p, now: () => clock } });
    await env.db.$transaction((tx) =>
      writeOutboxEvent(tx, { type: 'campaign.launch.v1', aggregateId: campaign.id, payload: { campaignId: campaign.id, shopId: shop.id }, traceId: 't-sched', availableAt: at }),
    );
    expect(await dispatchOutbox(env.db, deps.producer, { now: clock })).toBeGreaterThanOrEqual(1);
    const queue = deps.queues.get('campaigns');
    const launchId = jobIds.launch(campaign.id);
    const job = await queue.getJob(launchId);
    expect(await stateOf(job)).toBe('delayed');
    expect(job?.delay).toBe(3_600_000);
    expect(job?.data).toEqual({ traceId: 't-sched', campaignId: campaign.id, shopId: shop.id });

    // Run early (promoted by hand): the launch refuses and re-delays to scheduled_at.
    await job!.promote();
    await waitFor('re-delayed', async () => (await stateOf(await queue.getJob(launchId))) === 'delayed');
    expect(await campaignStatus(env.db, campaign.id)).toBe('scheduled');

    clock = at;
    await (await queue.getJob(launchId))!.promote();
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaign.id)) === 'completed');
    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 3 });
  });
});
