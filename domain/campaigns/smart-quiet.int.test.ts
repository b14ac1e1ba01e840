import { createContact, createContactsBulk, createShop } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { disableQuietHours, moneyState, queuedCampaign, recipientCounts, simulatorProvider, startSimulator } from '../../test/sending';
import type { MittoProvider } from '../messaging/providers';
import type { SmsProvider } from '../messaging/providers/provider';
import { jobIds } from '../../queue/job-ids';
import { readDbGauges, setDbGauges } from '../ops/db-gauges';
import { runReconciliation } from '../reconciliation/run-reconciliation';
import { findLedgerMismatches } from '../reconciliation/ledger-check';
import { campaignStats } from './campaign-stats';
import { launchCampaign } from './launch-campaign';
import { previewCampaign } from './preview-campaign';
import { sendBatch, type SendBatchDeps } from './send-batch';

// Smart sending (the frequency cap) and quiet hours in the recipient's local
// time with the US/CA floor, against real Postgres and the simulator. Time is
// the injected clock of the send path: no test sleeps.

describe('smart sending and recipient quiet hours', () => {
  let env: TestEnv;
  let worker: ReturnType<TestEnv['workerDeps']>;
  let sim: Awaited<ReturnType<typeof startSimulator>>['sim'];
  let p: MittoProvider;

  beforeAll(async () => {
    env = await createTestEnv();
    worker = env.workerDeps();
    let url: string;
    ({ sim, url } = await startSimulator());
    p = simulatorProvider(url);
  });
  afterAll(async () => {
    await env.close();
    p.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  const sendDeps = (now: Date, o: Partial<SendBatchDeps> = {}): SendBatchDeps => ({
    db: env.db,
    provider: p,
    now: () => now,
    leaseMs: 60_000,
    phoneHashKey: env.config.PHONE_HASH_KEY,
    // The cap tests span 16 hours: New Jersey test numbers would meet their night.
    // The quiet-hours tests turn the floor on.
    quietHoursFloor: false,
    ...o,
  });
  const withFloor = (now: Date): SendBatchDeps => sendDeps(now, { quietHoursFloor: true });

  async function launch(shopId: string, now: Date, o: { batchSize?: number; ignoreSmartSending?: boolean } = {}) {
    const campaign = await queuedCampaign(env.db, shopId, { segmentsPerMessage: 2 });
    if (o.ignoreSmartSending) await env.db.$executeRaw`UPDATE campaigns SET ignore_smart_sending = true WHERE id = ${campaign.id}::uuid`;
    const job = { campaignId: campaign.id, shopId, traceId: `trace-${campaign.id}` };
    const r = await launchCampaign({ db: env.db, producer: worker.producer, now: () => now, batchSize: o.batchSize ?? 100 }, job);
    expect(r.outcome).toBe('launched');
    return { ...campaign, job, batches: r.outcome === 'launched' ? r.batches : 0 };
  }

  async function skippedCodes(campaignId: string): Promise<Record<string, number>> {
    const rows = await env.db.$queryRaw<{ code: string | null; n: bigint }[]>`
      SELECT error_code AS code, count(*) AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND status = 'skipped' GROUP BY 1`;
    return Object.fromEntries(rows.map((r) => [r.code ?? 'none', Number(r.n)]));
  }

  async function reservationOf(campaignId: string) {
    const [r] = await env.db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint; status: string }[]>`
      SELECT amount, consumed, released, status FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid`;
    return { amount: Number(r!.amount), consumed: Number(r!.consumed), released: Number(r!.released), status: r!.status };
  }

  // A provider that refuses every number for good (a provider fake at the adapter interface).
  const refusing: SmsProvider = {
    name: 'refusing',
    dedupsByReference: true,
    maxBatchSize: 1000,
    sendBatch: async (messages) => messages.map((m) => ({ reference: m.reference, outcome: 'rejected', code: 'invalid_number', permanent: true })),
  };

  // A weekday afternoon in New York (15:00 EST): outside every quiet window.
  const noon = new Date('2026-12-02T20:00:00Z');
  const hours = (d: Date, h: number): Date => new Date(d.getTime() + h * 3_600_000);

  it('a contact texted by campaign A is skipped by campaign B inside the cap: skipped frequency_cap, no debit, its reservation released, the ledger balanced', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, 4);
    const a = await launch(shop.id, noon);
    expect(await sendBatch(sendDeps(noon), { ...a.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 4 } });

    // Two contacts more, then B an hour later (inside the default 16 h), in batches of 3.
    await createContactsBulk(env.db, shop.id, 2, { startAt: 500 });
    const b = await launch(shop.id, hours(noon, 1), { batchSize: 3 });
    expect(b.batches).toBe(2);
    const before = await moneyState(env.db, shop.id);
    const cappedBefore = (await worker.metrics.smsSkipped.get()).values.find((v) => v.labels.reason === 'frequency_cap')?.value ?? 0;
    const first = await sendBatch(sendDeps(hours(noon, 1), { metrics: worker.metrics }), { ...b.job, batchNo: 0 });
    expect(first.outcome).toBe('done');
    const s0 = first.outcome === 'done' ? first.settle! : null;
    expect(s0!.skipped + s0!.sent).toBe(3);
    expect(s0!.skipped).toBeGreaterThan(0);
    // The capped recipients' share (2 credits each, the campaign's bound) is given back at once, not at completion.
    const mid = await reservationOf(b.id);
    expect(mid).toMatchObject({ status: 'active', released: 2 * s0!.skipped, consumed: s0!.sent });
    const midMoney = await moneyState(env.db, shop.id);
    expect(midMoney.reserved).toBe(before.reserved - 2 * s0!.skipped - s0!.sent);

    await sendBatch(sendDeps(hours(noon, 1), { metrics: worker.metrics }), { ...b.job, batchNo: 1 });
    const cappedAfter = (await worker.metrics.smsSkipped.get()).values.find((v) => v.labels.reason === 'frequency_cap')?.value ?? 0;
    expect(cappedAfter - cappedBefore).toBe(4);
    // The four A texted are skipped, the two new contacts are sent; only they are charged.
    expect(await recipientCounts(env.db, b.id)).toEqual({ sent: 2, skipped: 4 });
    expect(await campaignStats(env.db, shop.id, b.id)).toMatchObject({ skipped: 4, skippedFrequencyCap: 4, deferred: 0 });
    expect(await skippedCodes(b.id)).toEqual({ frequency_cap: 4 });
    expect(sim.stats().messagesAccepted).toBe(6);
    const after = await moneyState(env.db, shop.id);
    expect(before.balance - after.balance).toBe(2);
    expect(after.balance).toBe(after.ledgerSum);
    expect(after.reserved).toBe(after.activeRemaining);
    expect(await reservationOf(b.id)).toMatchObject({ status: 'closed', consumed: 2 });
    expect((await findLedgerMismatches(env.db)).filter((m) => m.shopId === shop.id)).toEqual([]);

    // Past the window, the same contacts are texted again.
    const c = await launch(shop.id, hours(noon, 17));
    expect(await sendBatch(sendDeps(hours(noon, 17)), { ...c.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 6, skipped: 0 } });
  });

  it('in a batch where some contacts win their slot and some lose it, only the winners hold one: the losers keep the other campaign\'s', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, 3);
    const a = await launch(shop.id, noon);
    expect(await sendBatch(sendDeps(noon), { ...a.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 3 } });
    await createContactsBulk(env.db, shop.id, 3, { startAt: 700 });
    // B's one batch: three contacts A holds, three free. The free ones' messages fail for good, so their slots go back.
    const b = await launch(shop.id, hours(noon, 1));
    expect(await sendBatch(sendDeps(hours(noon, 1), { provider: refusing }), { ...b.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { failed: 3, skipped: 3 } });
    const slots = await env.db.$queryRaw<{ campaign_id: string | null; n: bigint }[]>`
      SELECT campaign_id::text AS campaign_id, count(*) AS n FROM contact_send_slots WHERE shop_id = ${shop.id}::uuid GROUP BY 1 ORDER BY 1 NULLS LAST`;
    // A still holds the three B lost; B holds none (its three failed and gave theirs back).
    expect(slots.map((s) => ({ campaign: s.campaign_id, n: Number(s.n) }))).toEqual([
      { campaign: a.id, n: 3 },
      { campaign: null, n: 3 },
    ]);
    // So C, inside A's window, skips A's three and texts the other three.
    const c = await launch(shop.id, hours(noon, 2));
    expect(await sendBatch(sendDeps(hours(noon, 2)), { ...c.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 3, skipped: 3 } });
  });

  it('two campaigns launched at the same instant text each contact once', async () => {
    const shop = await createShop(env.db, { credits: 10_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, 40);
    const [a, b] = await Promise.all([launch(shop.id, noon, { batchSize: 10 }), launch(shop.id, noon, { batchSize: 10 })]);
    // Every batch of both campaigns at once: they meet on the same contacts' slots.
    await Promise.all([0, 1, 2, 3].flatMap((n) => [sendBatch(sendDeps(noon), { ...a!.job, batchNo: n }), sendBatch(sendDeps(noon), { ...b!.job, batchNo: n })]));
    const ca = await recipientCounts(env.db, a!.id);
    const cb = await recipientCounts(env.db, b!.id);
    expect((ca.sent ?? 0) + (cb.sent ?? 0)).toBe(40);
    expect((ca.skipped ?? 0) + (cb.skipped ?? 0)).toBe(40);
    expect(sim.stats().messagesAccepted).toBe(40);
    const texted = await env.db.$queryRaw<{ contact_id: string; n: bigint }[]>`
      SELECT contact_id, count(*) AS n FROM campaign_recipients WHERE campaign_id IN (${a!.id}::uuid, ${b!.id}::uuid) AND status = 'sent' GROUP BY 1 HAVING count(*) > 1`;
    expect(texted).toEqual([]);
    const money = await moneyState(env.db, shop.id);
    expect(money.balance).toBe(money.ledgerSum);
    expect(money.reserved).toBe(money.activeRemaining);
  });

  it('a campaign that ignores smart sending texts everyone, and still counts against the next one', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, 3);
    const a = await launch(shop.id, noon);
    await sendBatch(sendDeps(noon), { ...a.job, batchNo: 0 });
    const b = await launch(shop.id, hours(noon, 1), { ignoreSmartSending: true });
    expect(await sendBatch(sendDeps(hours(noon, 1)), { ...b.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 3, skipped: 0 } });
    // 16.5 h after A (past its window) but 15.5 h after B: B's messages hold the slots.
    const c = await launch(shop.id, hours(noon, 16.5));
    expect(await sendBatch(sendDeps(hours(noon, 16.5)), { ...c.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 0, skipped: 3 } });
    // With the shop's cap off, nobody is skipped.
    await env.db.$executeRaw`UPDATE shops SET smart_sending_enabled = false WHERE id = ${shop.id}::uuid`;
    const d = await launch(shop.id, hours(noon, 18));
    expect(await sendBatch(sendDeps(hours(noon, 18)), { ...d.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 3, skipped: 0 } });
  });

  it('a message that failed gives its slot back: the contact is not held back by a text they never received', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    await createContact(env.db, shop.id, { phone: '+12125550142' });
    const a = await launch(shop.id, noon);
    expect(await sendBatch(sendDeps(noon, { provider: refusing }), { ...a.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { failed: 1 } });
    const b = await launch(shop.id, hours(noon, 1));
    expect(await sendBatch(sendDeps(hours(noon, 1)), { ...b.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 1, skipped: 0 } });
    // …and that message, which did go out, holds the slot.
    const c = await launch(shop.id, hours(noon, 2));
    expect(await sendBatch(sendDeps(hours(noon, 2)), { ...c.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 0, skipped: 1 } });
  });

  it('a New York number is deferred at 22:00 New York time while a London number in the same campaign is sent; the shop narrowing its quiet hours does not move the US floor; it is sent when its morning comes', async () => {
    const shop = await createShop(env.db, { credits: 1_000, timezone: 'America/New_York' });
    // The merchant shrinks quiet hours to 04:00–05:00: the floor still holds US numbers 21:00–08:00.
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '04:00', quiet_hours_end = '05:00' WHERE id = ${shop.id}::uuid`;
    await createContact(env.db, shop.id, { phone: '+12125550100' });
    await createContact(env.db, shop.id, { phone: '+447700900123' });
    // 2026-12-05T03:00Z: 22:00 in New York, 03:00 in London.
    const night = new Date('2026-12-05T03:00:00Z');
    const c = await launch(shop.id, night);

    const preview = await previewCampaign(env.db, { shopId: shop.id, campaignId: c.id, now: night });
    expect(preview.deferredNow).toBe(1);

    const r = await sendBatch(withFloor(night), { ...c.job, batchNo: 0 });
    // 08:00 EST = 13:00Z.
    expect(r).toMatchObject({ outcome: 'deferred', reason: 'quiet_hours', until: new Date('2026-12-05T13:00:00Z'), deferred: 1, counts: { settle: { sent: 1 } } });
    expect(await recipientCounts(env.db, c.id)).toEqual({ sent: 1, pending: 1 });
    // …and says until when, for the merchant watching a campaign that does not move.
    expect(await campaignStats(env.db, shop.id, c.id)).toMatchObject({ sent: 1, pending: 1, deferred: 1, deferredUntil: '2026-12-05T13:00:00.000Z', skippedFrequencyCap: 0 });
    const rows = await env.db.$queryRaw<{ phone: string; status: string }[]>`
      SELECT c.phone_e164 AS phone, r.status FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id WHERE r.campaign_id = ${c.id}::uuid ORDER BY 1`;
    expect(rows).toEqual([{ phone: '+12125550100', status: 'pending' }, { phone: '+447700900123', status: 'sent' }]);
    const [campaign] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${c.id}::uuid`;
    expect(campaign!.status).toBe('sending');

    // Waiting for New York's morning is not stuck, and it shows in the deferred gauge.
    const gauges = await readDbGauges(env.db, new Date('2026-12-05T12:00:00Z'));
    expect(gauges.recipientsDeferred).toBeGreaterThanOrEqual(1);
    setDbGauges(worker.metrics, gauges);
    expect((await worker.metrics.recipientsDeferred.get()).values[0]?.value).toBe(gauges.recipientsDeferred);
    const [stuck] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM campaign_batches WHERE campaign_id = ${c.id}::uuid AND status = 'pending' AND not_before = ${new Date('2026-12-05T13:00:00Z')}`;
    expect(Number(stuck!.n)).toBe(1);
    expect(gauges.campaignsStuck).toBe(0);
    // Its job lost: reconciliation finds the batch open with no job, adds one delayed to 08:00 New York time, and counts nothing stuck.
    await (await worker.queues.get('sends').getJob(jobIds.sendBatch(c.id, 0)))?.remove();
    const report = await runReconciliation(
      { db: env.db, redis: worker.redis, queues: worker.queues, producer: worker.producer, metrics: worker.metrics, logger: worker.logger, now: () => night, config: worker.config },
      { campaignId: c.id },
    );
    expect(report.campaignsStuck).toBe(0);
    const job = await worker.queues.get('sends').getJob(jobIds.sendBatch(c.id, 0));
    expect(await job?.getState()).toBe('delayed');
    expect(Math.abs((job?.delay ?? 0) - 10 * 3_600_000)).toBeLessThan(60_000);
    await job?.remove();

    // A job that runs early (07:59 EST) sends nothing.
    expect(await sendBatch(withFloor(new Date('2026-12-05T12:59:00Z')), { ...c.job, batchNo: 0 })).toMatchObject({ outcome: 'deferred', deferred: 1 });
    expect(sim.stats().messagesAccepted).toBe(1);

    // 08:00 EST: released, and the campaign completes only now.
    const morning = await sendBatch(withFloor(new Date('2026-12-05T13:00:00Z')), { ...c.job, batchNo: 0 });
    expect(morning).toMatchObject({ outcome: 'done', settle: { sent: 1 }, batchDone: true, campaignCompleted: true });
    expect(await recipientCounts(env.db, c.id)).toEqual({ sent: 2 });
    expect((await readDbGauges(env.db, new Date('2026-12-05T12:00:00Z'))).recipientsDeferred).toBe(0);
    expect(await campaignStats(env.db, shop.id, c.id)).toMatchObject({ status: 'completed', deferred: 0, deferredUntil: null });
  });

  it('a US number whose contact lives in London follows London time, floor included; the preview counts who is capped now', async () => {
    const shop = await createShop(env.db, { credits: 1_000, timezone: 'America/New_York' });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '04:00', quiet_hours_end = '05:00' WHERE id = ${shop.id}::uuid`;
    const ny = await createContact(env.db, shop.id, { phone: '+12125550177' });
    await env.db.$executeRaw`UPDATE contacts SET timezone = 'Europe/London' WHERE id = ${ny.id}::uuid`;
    // 2026-12-05T12:00Z: 07:00 in New York, 12:00 in London.
    const at = new Date('2026-12-05T12:00:00Z');
    const a = await launch(shop.id, at);
    expect(await sendBatch(withFloor(at), { ...a.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 1 } });

    const b = await queuedCampaign(env.db, shop.id);
    const capped = await previewCampaign(env.db, { shopId: shop.id, campaignId: b.id, now: hours(at, 1) });
    expect(capped).toMatchObject({ recipients: 1, frequencyCapped: 1, recipientsAfterCap: 0, deferredNow: 0 });
    await env.db.$executeRaw`UPDATE campaigns SET ignore_smart_sending = true WHERE id = ${b.id}::uuid`;
    expect(await previewCampaign(env.db, { shopId: shop.id, campaignId: b.id, now: hours(at, 1) })).toMatchObject({ frequencyCapped: 0, recipientsAfterCap: 1 });
  });
});
