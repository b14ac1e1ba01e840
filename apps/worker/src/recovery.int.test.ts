import type { SimulatorHandle } from '../../sms-simulator/src/simulator';
import type { MittoProvider } from '../../../domain/messaging/providers';
import { launchCampaign } from '../../../domain/campaigns/launch-campaign';
import { sendBatch } from '../../../domain/campaigns/send-batch';
import { runReconciliation } from '../../../domain/reconciliation/run-reconciliation';
import { jobIds } from '../../../queue/job-ids';
import { createContactsBulk, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { campaignStatus, disableQuietHours, moneyState, queuedCampaign, recipientCounts, sentSegments, SIM_API_KEY, simulatorProvider, startSimulator, waitFor } from '../../../test/sending';

// Issue acceptance for reconciliation: a worker killed mid-batch (after the
// provider accepted, before the settle, its job lost) leaves its batch claimed
// and the recipients pending under that claim. One reconciliation pass after
// the lease re-adds the batch job; the
// re-send uses the same references, the provider de-duplicates them, and the
// campaign completes with every recipient sent once and charged once.

let env: TestEnv;
let sim: SimulatorHandle;
let url: string;
let provider: MittoProvider;

beforeAll(async () => {
  ({ sim, url } = await startSimulator());
  env = await createTestEnv({ SMS_PROVIDER: 'simulator', SMS_PROVIDER_URL: url, SMS_PROVIDER_API_KEY: SIM_API_KEY });
  provider = simulatorProvider(url);
});
afterAll(async () => {
  await env.close();
  provider.close();
  await sim.stop();
});

it('a campaign whose worker died mid-batch completes after one pass, with no double send and one charge', async () => {
  const shop = await createShop(env.db, { credits: 10_000 });
  await disableQuietHours(env.db, shop.id);
  await createContactsBulk(env.db, shop.id, 1_000);
  const campaign = await queuedCampaign(env.db, shop.id, { body: 'Flash sale today, {{firstName|friend}}!', segmentsPerMessage: 2, traceId: 'trace-recovery' });
  const deps = env.workerDeps({ provider });
  const job = { campaignId: campaign.id, shopId: shop.id, traceId: 'trace-recovery' };
  const launched = await launchCampaign({ db: env.db, producer: deps.producer, now: () => new Date(), batchSize: 250 }, job);
  expect(launched).toMatchObject({ outcome: 'launched', recipients: 1_000, batches: 4 });

  // The "killed" worker: batch 0 reaches the provider, then dies before settling.
  await expect(
    sendBatch({ db: env.db, provider, now: () => new Date(), leaseMs: 60_000, phoneHashKey: env.config.PHONE_HASH_KEY, quietHoursFloor: env.config.SMS_QUIET_HOURS_FLOOR, afterProviderCall: () => { throw new Error('SIGKILL'); } }, { ...job, batchNo: 0 }),
  ).rejects.toThrow('SIGKILL');
  expect(sim.stats().messagesAccepted).toBe(250);
  // Its job died with it.
  await (await deps.queues.get('sends').getJob(jobIds.sendBatch(campaign.id, 0)))?.remove();

  // Healthy workers send the other batches; batch 0 stays claimed by the dead one.
  const { host } = await env.worker({ queues: ['sends'], overrides: { provider } });
  await waitFor('the other batches', async () => (await recipientCounts(env.db, campaign.id)).sent === 750);
  expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 750, pending: 250 });
  expect(await campaignStatus(env.db, campaign.id)).toBe('sending');

  // Time passes beyond the lease; reconciliation repairs it in one pass.
  const expired = await env.db.$executeRaw`
    UPDATE campaign_batches SET lease_until = now() - interval '1 second' WHERE campaign_id = ${campaign.id}::uuid AND claim_token IS NOT NULL`;
  expect(expired).toBe(1);
  const report = await runReconciliation(deps, { campaignId: campaign.id });
  expect(report.repairs.stale_lease).toBe(1);
  await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaign.id)) === 'completed', 20_000);
  await host.close(2_000);

  expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 1_000 });
  const stats = sim.stats();
  expect(stats.uniqueReferences).toBe(1_000);
  expect(stats.messagesAccepted).toBe(1_000);
  expect(stats.duplicatesSuppressed).toBe(250);
  const money = await moneyState(env.db, shop.id);
  expect(money.debited).toBe(await sentSegments(env.db, campaign.id));
  expect(money.balance).toBe(money.ledgerSum);
  expect(money.reserved).toBe(0);
  expect((await runReconciliation(deps, { campaignId: campaign.id })).repairs).toEqual(expect.objectContaining({ stale_lease: 0, batch_job_missing: 0, campaign_completed: 0 }));
});
