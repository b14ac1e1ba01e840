import type { Express } from 'express';
import request from 'supertest';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import type { WorkerHost } from '../../apps/worker/src/worker-host';
import { recipientReference } from '../../domain/campaigns/render-batch';
import { jobIds } from '../../queue/job-ids';
import { createContactsBulk, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { campaignStatus, disableQuietHours, moneyState, queuedCampaign, recipientCounts, SIM_API_KEY, startSimulator, waitFor } from '../sending';
import { counterValue, reportOutcome } from '../webhooks';

// The attack (a careless-operator one): SMS_PROVIDER=mitto, the provider
// takes a batch and the answer never comes (accept-then-hang). Before, the
// worker assumed Mitto drops repeats of a `reference` and sent the batch
// again: with a provider that does not, every recipient got the SMS twice.
// Now, unless SMS_PROVIDER_DEDUPS_BY_REFERENCE=true, the outcome is recorded
// `unknown`, never re-sent, never charged until a delivery report (or the
// on-call) settles it, exactly once.

const BODY = 'Flash sale today only, reply STOP to opt out';
const RECIPIENTS = 4;

async function recipients(env: TestEnv, campaignId: string): Promise<{ id: string; status: string; segments: number | null; error_code: string | null }[]> {
  const rows = await env.db.$queryRaw<{ id: bigint; status: string; segments: number | null; error_code: string | null }[]>`
    SELECT id, status, segments, error_code FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid ORDER BY id`;
  return rows.map((r) => ({ ...r, id: String(r.id) }));
}

async function hangOneCampaign(env: TestEnv, sim: SimulatorHandle, deps: WorkerDeps): Promise<{ shopId: string; campaignId: string; reserved: number }> {
  const shop = await createShop(env.db, { credits: 100 });
  await disableQuietHours(env.db, shop.id);
  await createContactsBulk(env.db, shop.id, RECIPIENTS);
  const campaign = await queuedCampaign(env.db, shop.id, { body: BODY, segmentsPerMessage: 2 });
  sim.setFaults({ hangRate: 1 });
  await deps.producer.add('campaign.launch.v1', { traceId: 'trace-hang', campaignId: campaign.id, shopId: shop.id }, { jobId: jobIds.launch(campaign.id) });
  await waitFor('the provider to take the batch and hang', () => sim.detail().hangingRequests >= 1);
  // From here on the provider answers: a re-send would go through.
  sim.setFaults({});
  return { shopId: shop.id, campaignId: campaign.id, reserved: campaign.reserved };
}

describe('attack: an ambiguous provider timeout turns into a second SMS', () => {
  describe('with the default configuration and a provider that does not dedup by reference', () => {
    let env: TestEnv;
    let sim: SimulatorHandle;
    let app: Express;
    let worker: { host: WorkerHost; deps: WorkerDeps };

    beforeAll(async () => {
      let url: string;
      ({ sim, url } = await startSimulator({ dedupsByReference: false }));
      // Nothing about deduplication is configured: the production default.
      env = await createTestEnv({ SMS_PROVIDER: 'mitto', SMS_PROVIDER_URL: url, SMS_PROVIDER_API_KEY: SIM_API_KEY, SMS_PROVIDER_TIMEOUT_MS: '300' });
      ({ app } = await env.api());
      worker = await env.worker({ queues: ['campaigns', 'sends', 'webhooks'] });
    });
    afterAll(async () => {
      await env.close();
      await sim.stop();
    });

    it('records every hung recipient as unknown, sends nobody twice and charges nothing', async () => {
      expect(env.config.SMS_PROVIDER_DEDUPS_BY_REFERENCE).toBe(false);
      const { shopId, campaignId, reserved } = await hangOneCampaign(env, sim, worker.deps);
      await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaignId)) === 'completed', 30_000);

      // Each hung message went out once and was never sent again.
      expect(sim.stats()).toMatchObject({ messagesAccepted: RECIPIENTS, duplicatesSent: 0 });
      expect(await recipientCounts(env.db, campaignId)).toEqual({ unknown: RECIPIENTS });
      for (const r of await recipients(env, campaignId)) {
        expect(sim.referenceStats(recipientReference(r.id)).sends).toBe(1);
        // What the message would cost is kept, for when a report proves it went out.
        expect(r).toMatchObject({ status: 'unknown', segments: 1, error_code: 'timeout_after_send' });
      }
      // Never charged while unknown; the reservation is closed.
      const money = await moneyState(env.db, shopId);
      expect(money).toMatchObject({ balance: 100, reserved: 0, debited: 0, activeRemaining: 0, ledgerSum: 100 });
      expect(reserved).toBe(RECIPIENTS * 2);
      expect(await counterValue(worker.deps.metrics, 'smsUnknownOutcomes', { provider: 'mitto' })).toBe(RECIPIENTS);
    });

    it('a delivery report settles an unknown recipient once: delivered is charged once however often it is replayed, failed is free', async () => {
      const { shopId, campaignId } = await hangOneCampaign(env, sim, worker.deps);
      await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaignId)) === 'completed', 30_000);
      const [a, b] = await recipients(env, campaignId);
      const idOf = (r: { id: string }): string => sim.referenceStats(recipientReference(r.id)).providerId as string;
      const post = (r: { id: string }, status: 'delivered' | 'failed') =>
        request(app)
          .post(`/webhooks/sms/mitto/status?token=${encodeURIComponent(env.config.SMS_WEBHOOK_SECRET)}`)
          .set('Content-Type', 'application/json')
          .send(JSON.stringify({ id: idOf(r), reference: recipientReference(r.id), status, ...(status === 'failed' ? { errorCode: 'absent_subscriber' } : {}), timestamp: new Date().toISOString() }));

      const first = await post(a!, 'delivered');
      expect(first.status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await post(a!, 'delivered')).body).toEqual({ duplicate: true });
      expect((await post(b!, 'failed')).status).toBe(200);
      await waitFor('both reports applied', async () => {
        const states = await Promise.all([reportOutcome(env.db, 'sms-mitto', `${idOf(a!)}:delivered`), reportOutcome(env.db, 'sms-mitto', `${idOf(b!)}:failed`)]);
        return states.every((s) => s === 'processed');
      });
      // A later report about a message already final moves nothing.
      expect((await post(a!, 'failed')).status).toBe(200);
      await waitFor('the late report closed', async () => (await reportOutcome(env.db, 'sms-mitto', `${idOf(a!)}:failed`)) === 'processed');

      const after = await recipients(env, campaignId);
      expect(after.map((r) => r.status)).toEqual(['delivered', 'failed', 'unknown', 'unknown']);
      const money = await moneyState(env.db, shopId);
      expect(money).toMatchObject({ debited: 1, balance: 99, reserved: 0, ledgerSum: 99 });
      const ledger = await env.db.$queryRaw<{ idempotency_key: string; reference: string }[]>`
        SELECT idempotency_key, reference FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND type = 'debit'`;
      expect(ledger).toEqual([{ idempotency_key: `debit-${campaignId}-unknown-${a!.id}`, reference: `campaign:${campaignId}` }]);
      expect(await counterValue(worker.deps.metrics, 'smsUnknownResolved', { via: 'delivery_report', status: 'delivered' })).toBe(1);
      expect(await counterValue(worker.deps.metrics, 'smsUnknownResolved', { via: 'delivery_report', status: 'failed' })).toBe(1);
    });
  });

  describe('with SMS_PROVIDER_DEDUPS_BY_REFERENCE=true and a provider that does dedup', () => {
    let env: TestEnv;
    let sim: SimulatorHandle;
    let worker: { host: WorkerHost; deps: WorkerDeps };

    beforeAll(async () => {
      let url: string;
      ({ sim, url } = await startSimulator({ dedupsByReference: true }));
      env = await createTestEnv({
        SMS_PROVIDER: 'mitto',
        SMS_PROVIDER_URL: url,
        SMS_PROVIDER_API_KEY: SIM_API_KEY,
        SMS_PROVIDER_TIMEOUT_MS: '300',
        SMS_PROVIDER_DEDUPS_BY_REFERENCE: 'true',
      });
      worker = await env.worker({ queues: ['campaigns', 'sends'] });
    });
    afterAll(async () => {
      await env.close();
      await sim.stop();
    });

    it('re-sends the hung batch with the same references: one SMS and one charge each', async () => {
      const { shopId, campaignId } = await hangOneCampaign(env, sim, worker.deps);
      await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaignId)) === 'completed', 30_000);

      expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: RECIPIENTS });
      // The re-send happened and was answered from the provider's dedup.
      expect(sim.stats()).toMatchObject({ messagesAccepted: RECIPIENTS, uniqueReferences: RECIPIENTS, duplicatesSent: 0 });
      expect(sim.stats().duplicatesSuppressed).toBeGreaterThanOrEqual(RECIPIENTS);
      for (const r of await recipients(env, campaignId)) expect(sim.referenceStats(recipientReference(r.id))).toMatchObject({ sends: 1, duplicates: 1 });
      expect(await moneyState(env.db, shopId)).toMatchObject({ debited: RECIPIENTS, balance: 100 - RECIPIENTS, reserved: 0, ledgerSum: 100 - RECIPIENTS });
      expect(await counterValue(worker.deps.metrics, 'smsUnknownOutcomes', { provider: 'mitto' })).toBe(0);
    });
  });
});
