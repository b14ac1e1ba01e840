import type { Job } from 'bullmq';
import type { SimulatorHandle } from '../../sms-simulator/src/simulator';
import type { MittoProvider } from '../../../domain/messaging/providers';
import { dispatchOutbox, writeOutboxEvent } from '../../../domain/outbox/outbox';
import { jobIds } from '../../../queue/job-ids';
import { createContact, createContactsBulk, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { campaignStatus, queuedCampaign, recipientCounts, simulatorProvider, startSimulator, waitFor } from '../../../test/sending';

// Quiet hours and schedules through real workers with an injected clock: the
// jobs move to BullMQ's delayed set until the right instant, never run early.
// Quiet hours are the recipient's: a batch sends whoever may be texted now and
// waits for the rest.

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

  it('at 22:00 in New York a London recipient is sent while the New York ones wait in the delayed set for 08:00, and a promoted job still does not send early', async () => {
    const shop = await createShop(env.db, { credits: 1_000, timezone: 'America/New_York' });
    // The merchant narrowed quiet hours to 04:00–05:00: the legal floor still holds US numbers 21:00–08:00.
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '04:00', quiet_hours_end = '05:00' WHERE id = ${shop.id}::uuid`;
    await createContactsBulk(env.db, shop.id, 30);
    await createContact(env.db, shop.id, { phone: '+447700900321' });
    const campaign = await queuedCampaign(env.db, shop.id);
    const { deps } = await env.worker({
      queues: ['campaigns', 'sends'],
      overrides: { provider: p, now: () => clock, config: { ...env.config, SMS_QUIET_HOURS_FLOOR: true } },
    });
    await deps.producer.add('campaign.launch.v1', { traceId: 't-quiet', campaignId: campaign.id, shopId: shop.id }, { jobId: jobIds.launch(campaign.id) });
    const sends = deps.queues.get('sends');
    const batchId = jobIds.sendBatch(campaign.id, 0);
    // The launch is not held back: the batch sends London (03:00 there) and waits for New York's 08:00.
    await waitFor('batch delayed', async () => (await stateOf(await sends.getJob(batchId))) === 'delayed');
    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 1, pending: 30 });
    expect(sim.stats().messagesAccepted).toBe(1);
    const delayed = await sends.getJob(batchId);
    // 9 hours from the injected 03:00Z to 12:00Z (08:00 EDT after the clocks went forward), give or take the test's runtime.
    expect(Math.abs((delayed?.delay ?? 0) - 9 * 3_600_000)).toBeLessThan(60_000);
    expect(await campaignStatus(env.db, campaign.id)).toBe('sending');

    // Someone promotes it while it is still night: it goes straight back to waiting.
    clock = new Date('2026-03-08T11:59:00Z');
    await delayed!.promote();
    await waitFor('batch delayed again', async () => {
      const j = await sends.getJob(batchId);
      return (await stateOf(j)) === 'delayed' && (j?.delay ?? 0) < 120_000;
    });
    expect(sim.stats().messagesAccepted).toBe(1);

    // Morning in New York: the same job sends the rest and the campaign completes.
    clock = new Date('2026-03-08T12:00:00Z');
    await (await sends.getJob(batchId))!.promote();
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaign.id)) === 'completed');
    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 31 });
    expect(sim.stats().messagesAccepted).toBe(31);
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
