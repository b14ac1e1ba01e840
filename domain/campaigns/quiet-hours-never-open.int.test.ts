import { randomUUID } from 'node:crypto';
import { createContact, createShop } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { moneyState, queuedCampaign, simulatorProvider, startSimulator } from '../../test/sending';
import type { MittoProvider } from '../messaging/providers';
import { campaignStats } from './campaign-stats';
import { claimBatch } from './claim-batch';
import { launchCampaign } from './launch-campaign';
import { previewCampaign } from './preview-campaign';
import { sendBatch, type SendBatchDeps } from './send-batch';

// A recipient whose quiet hours never open: a shop quiet 07:00–22:00 (open
// only 22:00–07:00 local) against the US/CA floor (open only 08:00–21:00
// local) leaves a New York number no instant at all. The batch used to be
// deferred to wherever the search stopped, still quiet, then again, forever:
// the campaign stayed `sending` with its credits reserved. Such a recipient is
// now skipped (quiet_hours), never charged, and the campaign completes.

describe('a campaign recipient whose quiet hours never open', () => {
  let env: TestEnv;
  let sim: Awaited<ReturnType<typeof startSimulator>>['sim'];
  let p: MittoProvider;

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

  const withFloor = (now: Date): SendBatchDeps => ({ db: env.db, provider: p, now: () => now, leaseMs: 60_000, phoneHashKey: env.config.PHONE_HASH_KEY, quietHoursFloor: true });

  async function reservationOf(campaignId: string) {
    const [r] = await env.db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint; status: string }[]>`
      SELECT amount, consumed, released, status FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid`;
    return { amount: Number(r!.amount), consumed: Number(r!.consumed), released: Number(r!.released), status: r!.status };
  }

  it('is skipped with reason quiet_hours, not charged, its reservation released, and the campaign completes instead of being deferred forever', async () => {
    const shop = await createShop(env.db, { credits: 1_000, timezone: 'America/New_York' });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '07:00', quiet_hours_end = '22:00' WHERE id = ${shop.id}::uuid`;
    await createContact(env.db, shop.id, { phone: '+12125550100' });
    await createContact(env.db, shop.id, { phone: '+447700900123' });
    await createContact(env.db, shop.id, { phone: '+81312345678' });
    // 2026-12-05T03:00Z: 22:00 in New York (the shop's window is open, the floor is not: never both),
    // 03:00 in London (open), 12:00 in Tokyo (the shop's window is closed until 22:00 Tokyo = 13:00Z).
    const night = new Date('2026-12-05T03:00:00Z');
    const campaign = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2 });

    // The composer's estimate says so before the send: one skipped, one waiting.
    const preview = await previewCampaign(env.db, { shopId: shop.id, campaignId: campaign.id, now: night });
    expect(preview).toMatchObject({ recipients: 3, deferredNow: 1, quietHoursSkipped: 1 });

    const job = { campaignId: campaign.id, shopId: shop.id, traceId: `trace-${campaign.id}` };
    const launched = await launchCampaign({ db: env.db, producer: env.workerDeps().producer, now: () => night, batchSize: 100 }, job);
    expect(launched).toMatchObject({ outcome: 'launched', batches: 1 });
    const before = await moneyState(env.db, shop.id);

    const first = await sendBatch(withFloor(night), { ...job, batchNo: 0 });
    // London is sent, New York skipped at once (its credits given back now, not at completion), Tokyo waits.
    expect(first).toMatchObject({ outcome: 'deferred', reason: 'quiet_hours', deferred: 1, counts: { settle: { sent: 1, skipped: 1 } } });
    expect(await reservationOf(campaign.id)).toMatchObject({ status: 'active', amount: 6, consumed: 1, released: 2 });
    expect(await campaignStats(env.db, shop.id, campaign.id)).toMatchObject({ sent: 1, skipped: 1, skippedQuietHours: 1, skippedFrequencyCap: 0, pending: 1, deferred: 1 });
    // The job as the worker runs it: again at every instant it is deferred to (a few rounds are enough to tell).
    const deferredTo: string[] = [];
    let last = first;
    for (let round = 0; round < 4 && last.outcome === 'deferred'; round++) {
      deferredTo.push(last.until.toISOString());
      last = await sendBatch(withFloor(last.until), { ...job, batchNo: 0 });
    }
    expect(deferredTo).toEqual(['2026-12-05T13:00:00.000Z']);
    expect(last).toMatchObject({ outcome: 'done', batchDone: true, campaignCompleted: true, settle: { sent: 1, skipped: 0 } });

    const rows = await env.db.$queryRaw<{ phone: string; status: string; error_code: string | null; segments: number | null }[]>`
      SELECT c.phone_e164 AS phone, r.status, r.error_code, r.segments FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id
       WHERE r.campaign_id = ${campaign.id}::uuid ORDER BY 1`;
    expect(rows).toEqual([
      { phone: '+12125550100', status: 'skipped', error_code: 'quiet_hours', segments: null },
      { phone: '+447700900123', status: 'sent', error_code: null, segments: 1 },
      { phone: '+81312345678', status: 'sent', error_code: null, segments: 1 },
    ]);
    const [c] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${campaign.id}::uuid`;
    expect(c!.status).toBe('completed');
    expect(await campaignStats(env.db, shop.id, campaign.id)).toMatchObject({ status: 'completed', sent: 2, skipped: 1, skippedQuietHours: 1, pending: 0, deferred: 0 });
    // Only the two messages sent are charged; nothing stays reserved, and the ledger agrees with the wallet.
    const after = await moneyState(env.db, shop.id);
    expect(before.balance - after.balance).toBe(2);
    expect(after.reserved).toBe(0);
    expect(after.balance).toBe(after.ledgerSum);
    expect(await reservationOf(campaign.id)).toMatchObject({ status: 'closed', consumed: 2 });
    expect(sim.stats().messagesAccepted).toBe(2);
  });

  it('at the claim: a fresh row is skipped without taking a send slot; a row an earlier attempt may have sent is recorded unknown, never skipped', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    const fresh = await createContact(env.db, shop.id, { phone: '+12125550111' });
    const again = await createContact(env.db, shop.id, { phone: '+12125550112' });
    const now = new Date('2026-12-05T03:00:00Z');
    const campaign = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 1 });
    const job = { campaignId: campaign.id, shopId: shop.id, traceId: 't' };
    await launchCampaign({ db: env.db, producer: env.workerDeps().producer, now: () => now, batchSize: 100 }, job);
    // `again` was claimed by an attempt whose lease ran out: it may have gone out.
    await env.db.$executeRaw`
      UPDATE campaign_recipients SET status = 'sending', claim_token = ${randomUUID()}::uuid, lease_until = ${new Date(now.getTime() - 1_000)}
       WHERE campaign_id = ${campaign.id}::uuid AND contact_id = ${again.id}::uuid`;
    const claim = await claimBatch(env.db, {
      campaignId: campaign.id, batchNo: 0, token: randomUUID(), now, leaseMs: 60_000, dedupsByReference: true,
      quietHours: () => 'never',
      frequencyCap: { shopId: shop.id, windowHours: 16 },
    });
    expect(claim.outcome).toBe('claimed');
    const byContact = Object.fromEntries((claim.outcome === 'claimed' ? claim.recipients : []).map((r) => [r.contactId, { status: r.status, skipReason: r.skipReason, tookSlot: r.tookSlot }]));
    expect(byContact).toEqual({
      [fresh.id]: { status: 'skipped', skipReason: 'quiet_hours', tookSlot: undefined },
      [again.id]: { status: 'unknown', skipReason: undefined, tookSlot: undefined },
    });
    expect(claim.outcome === 'claimed' && claim.deferred).toBeNull();
    const [slots] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_send_slots WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(slots!.n)).toBe(0);
  });
});
