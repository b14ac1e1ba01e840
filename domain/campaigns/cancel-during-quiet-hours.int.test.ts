import { createContact, createShop } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { moneyState, queuedCampaign, recipientCounts, simulatorProvider, startSimulator } from '../../test/sending';
import { UNGUARDED } from '../idempotency/guard';
import type { SmsProvider } from '../messaging/providers/provider';
import { cancelCampaign } from './cancel-campaign';
import { launchCampaign } from './launch-campaign';
import { sendBatch } from './send-batch';

// A cancel that lands while a batch's provider call is in flight counts the
// batch's pending rows as in flight, those waiting for their quiet hours
// included; the batch job then cancels those at once (not at their morning)
// and the campaign's reservation is released.

let env: TestEnv;
let s: Awaited<ReturnType<typeof startSimulator>>;
beforeAll(async () => {
  env = await createTestEnv();
  s = await startSimulator();
});
afterAll(async () => {
  await env.close();
  await s.sim.stop();
});

it('a cancel during a send: the rows the claim deferred for quiet hours are cancelled and their credits released by the same job', async () => {
  const now = new Date('2030-01-15T13:00:00Z'); // 13:00 in UTC (sendable), 22:00 in Tokyo (quiet 21:00-08:00)
  const shop = await createShop(env.db, { credits: 100 });
  await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '21:00', quiet_hours_end = '08:00' WHERE id = ${shop.id}::uuid`;
  for (const tz of ['UTC', 'UTC', 'Asia/Tokyo', 'Asia/Tokyo']) {
    const c = await createContact(env.db, shop.id);
    await env.db.$executeRaw`UPDATE contacts SET timezone = ${tz} WHERE id = ${c.id}::uuid`;
  }
  const campaign = await queuedCampaign(env.db, shop.id, { body: 'Sale today', segmentsPerMessage: 1 });
  const job = { campaignId: campaign.id, shopId: shop.id, traceId: 't' };
  await launchCampaign({ db: env.db, producer: env.workerDeps().producer, now: () => now, batchSize: 100 }, job);
  const real = simulatorProvider(s.url);
  const provider: SmsProvider = {
    name: real.name,
    dedupsByReference: true,
    maxBatchSize: real.maxBatchSize,
    async sendBatch(messages, ctx) {
      // The merchant cancels while the provider call is in flight.
      await cancelCampaign(env.db, { shopId: shop.id, campaignId: campaign.id, guard: UNGUARDED, now });
      return real.sendBatch(messages, ctx);
    },
  };
  const result = await sendBatch({ db: env.db, provider, now: () => now, leaseMs: 60_000, phoneHashKey: env.config.PHONE_HASH_KEY, quietHoursFloor: false }, { ...job, batchNo: 0 });
  real.close();
  expect(result.outcome).toBe('done');
  expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 2, cancelled: 2 });
  expect((await moneyState(env.db, shop.id)).reserved).toBe(0);
});
