import { jobIds } from '../../queue/job-ids';
import { createShop, createContactsBulk } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { rid } from '../../test/webhooks';
import { inspectCampaign } from '../ops/inspect-campaign';
import { readDbGauges, setDbGauges } from '../ops/db-gauges';
import { runReconciliation } from '../reconciliation/run-reconciliation';
import { applyDeliveryReports } from '../webhooks/apply-delivery-reports';
import { processWebhookEvent } from '../webhooks/process-event';
import { recordWebhookEvent } from '../webhooks/record-event';
import { campaignStats } from './campaign-stats';
import { campaignTimeseries } from './campaign-timeseries';
import { freezeCampaignRecipients } from './freeze-campaign-recipients';
import { pruneCampaignRecipients } from './prune-campaign-recipients';
import type { BucketName } from './timeseries-buckets';

// Recipients of campaigns past RECIPIENT_RETENTION_DAYS: stats and the chart
// answer alike before and after their rows go, the job deletes only an
// eligible campaign's rows (in chunks, resumably), and what still names a
// pruned recipient (a late delivery report) is closed, not retried.

const t = useTestEnv();
const DAY = 86_400_000;
const now = new Date();
const retention = (): number => t.env.config.RECIPIENT_RETENTION_DAYS;
const prune = (campaignId: string, o: { chunkRows?: number; sliceMs?: number; freezeReadBatches?: number } = {}) =>
  pruneCampaignRecipients(t.deps, campaignId, { now, retentionDays: retention(), ...o });

type Kind = 'completed' | 'cancelled' | 'sending';

/**
 * A campaign of every contact of the shop, its recipients in 4 batches and of
 * every final status (delivered, failed sent or not, skipped by the cap or
 * not, sent, unknown, cancelled) sent over ~`contacts` × 7 minutes starting
 * `startedDaysAgo`; a sending one keeps pending rows. Clicks on 3 of them, a
 * closed reservation, an attributed order.
 */
async function campaignOf(shopId: string, kind: Kind, startedDaysAgo: number): Promise<string> {
  const t0 = new Date(now.getTime() - startedDaysAgo * DAY);
  const [c] = await t.env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO campaigns (shop_id, name, body, status, segments_per_message, started_at, completed_at, cancelled_at, last_activity_at)
    VALUES (${shopId}::uuid, ${`Old ${kind}`}, 'Hi', ${kind}, 1, ${t0},
            ${kind === 'completed' ? new Date(t0.getTime() + 3 * 3600_000) : null}, ${kind === 'cancelled' ? new Date(t0.getTime() + 3600_000) : null},
            ${new Date(t0.getTime() + 4 * 3600_000)})
    RETURNING id`;
  const id = c!.id;
  await t.env.db.$executeRaw`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at, error_code)
    SELECT ${id}::uuid, c.id, (c.rn % 4)::int, st.s,
           CASE WHEN st.s IN ('sent', 'delivered', 'failed') THEN 'pm-' || gen_random_uuid() END,
           CASE WHEN st.s IN ('sent', 'delivered', 'failed') THEN 1 END,
           CASE WHEN st.s IN ('sent', 'delivered') OR (st.s = 'failed' AND (c.rn / 8) % 2 = 0) THEN ${t0}::timestamptz + c.rn * interval '7 minutes' END,
           CASE WHEN st.s IN ('delivered', 'failed', 'skipped') THEN ${t0}::timestamptz + c.rn * interval '7 minutes' + interval '95 seconds' END,
           CASE st.s WHEN 'failed' THEN 'carrier' WHEN 'skipped' THEN CASE WHEN (c.rn / 8) % 2 = 0 THEN 'frequency_cap' ELSE 'opted_out' END END
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM contacts WHERE shop_id = ${shopId}::uuid) c,
           LATERAL (SELECT CASE WHEN ${kind} = 'sending' AND c.rn % 3 = 0 THEN 'pending'
                                ELSE (ARRAY['delivered', 'delivered', 'failed', 'skipped', 'sent', 'unknown', 'cancelled', 'delivered'])[1 + (c.rn % 8)::int] END AS s) st`;
  await t.env.db.$executeRaw`
    INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status, sent)
    SELECT campaign_id, batch_no, count(*)::int, ${kind === 'sending' ? 'pending' : 'done'}, count(*) FILTER (WHERE sent_at IS NOT NULL)::int
      FROM campaign_recipients WHERE campaign_id = ${id}::uuid GROUP BY campaign_id, batch_no`;
  await t.env.db.$executeRaw`
    INSERT INTO link_clicks (id, shop_id, campaign_id, recipient_id, contact_id, link_index, clicked_at, ua_class, bot, first)
    SELECT gen_random_uuid(), ${shopId}::uuid, r.campaign_id, r.id, r.contact_id, 0, r.sent_at + interval '1 minute', 'ios', false, true
      FROM campaign_recipients r WHERE r.campaign_id = ${id}::uuid AND r.status = 'delivered' ORDER BY r.id LIMIT 3`;
  await t.env.db.$executeRaw`
    WITH o AS (
      INSERT INTO shopify_orders (shop_id, order_id, customer_id, contact_id, total_minor, currency, ordered_at)
      SELECT ${shopId}::uuid, ${`o-${id}`}, ${`cust-${id}`}, r.contact_id, 4200, 'USD', r.sent_at + interval '2 minutes'
        FROM campaign_recipients r WHERE r.campaign_id = ${id}::uuid AND r.status = 'delivered' ORDER BY r.id LIMIT 1
      RETURNING shop_id, order_id, contact_id, total_minor, currency, ordered_at)
    INSERT INTO order_attributions (shop_id, order_id, campaign_id, contact_id, kind, total_minor, currency, ordered_at)
    SELECT shop_id, order_id, ${id}::uuid, contact_id, 'view', total_minor, currency, ordered_at FROM o`;
  if (kind !== 'sending') {
    await t.env.db.$executeRaw`
      INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount, consumed, released, status)
      VALUES (${shopId}::uuid, ${id}::uuid, ${`campaign-${id}`}, 40, 23, 17, 'closed')`;
  }
  return id;
}

async function shopWithContacts(n: number, startAt: number): Promise<string> {
  const shop = await createShop(t.env.db, { credits: 0 });
  await createContactsBulk(t.env.db, shop.id, n, { startAt });
  return shop.id;
}

const rowsOf = async (campaignId: string): Promise<number> =>
  Number((await t.env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid`)[0]!.n);

const BUCKETS: (BucketName | 'auto')[] = ['auto', '1s', '1m', '5m', '30m', '1h', '3h', '1d', '7d'];
const charts = async (shopId: string, campaignId: string) =>
  Promise.all(BUCKETS.map((bucket) => campaignTimeseries(t.env.db, { shopId, campaignId, bucket, now })));

it('stats and the chart answer the same before and after the rows are pruned', async () => {
  const shopId = await shopWithContacts(90, 0);
  const id = await campaignOf(shopId, 'completed', retention() + 3);
  const statsBefore = await campaignStats(t.env.db, shopId, id);
  const chartsBefore = await charts(shopId, id);
  // What the seed makes: every status and the numbers read from other tables.
  expect(statsBefore).toMatchObject({ total: 90, creditsDebited: 23, creditsReleased: 17, creditsReserved: 40, pending: 0 });
  for (const s of ['delivered', 'failed', 'skipped', 'sent', 'unknown', 'cancelled'] as const) expect(statsBefore[s]).toBeGreaterThan(0);
  expect(statsBefore.skippedFrequencyCap).toBeGreaterThan(0);
  expect(statsBefore.skippedFrequencyCap).toBeLessThan(statsBefore.skipped);
  expect(statsBefore.messagesSent).toBeGreaterThan(statsBefore.sent + statsBefore.delivered);
  expect(statsBefore.messagesSent).toBeLessThan(statsBefore.sent + statsBefore.delivered + statsBefore.failed);
  expect(statsBefore.clicks).toBe(3);
  expect(statsBefore.attributedOrders).toBe(1);
  expect(statsBefore.attributedRevenue).toMatchObject([{ currency: 'USD', orders: 1 }]);
  // 90 × 7 minutes spans ~10.5 h: the 1 s request is widened to the finest width within MAX_BUCKETS.
  expect(chartsBefore[1]!.bucketSeconds).toBe(300);
  expect(chartsBefore.map((c) => c.points.reduce((n, p) => n + p.sent, 0))).toEqual(BUCKETS.map(() => statsBefore.messagesSent));

  // Frozen a batch per statement: four pieces each for the totals, the chart's span and its bins, summed to what one read answers.
  const result = await prune(id, { freezeReadBatches: 1 });
  expect(result).toMatchObject({ outcome: 'pruned', deleted: 90 });
  expect(result.freeze.reads).toBe(12);
  expect(await rowsOf(id)).toBe(0);

  expect(await campaignStats(t.env.db, shopId, id)).toEqual(statsBefore);
  expect(await charts(shopId, id)).toEqual(chartsBefore);
  // Its batches stay: the campaigns list reads their counters.
  const [batches] = await t.env.db.$queryRaw<{ n: bigint; sent: bigint }[]>`SELECT count(*) AS n, sum(sent) AS sent FROM campaign_batches WHERE campaign_id = ${id}::uuid`;
  expect(Number(batches!.n)).toBe(4);
  // On-call sees where the counts come from.
  const inspection = await inspectCampaign(t.env.db, id, now);
  expect(inspection!.recipientsFrozen).toBe(true);
  expect(inspection!.campaign.recipientsPrunedAt).toEqual(now);
  expect(inspection!.recipients.delivered).toBe(statsBefore.delivered);
});

/** A completed campaign launched at `startedAt`, with no recipient rows of its own. */
async function completedCampaign(shopId: string, startedAt: Date, completedAt: Date): Promise<string> {
  const [c] = await t.env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO campaigns (shop_id, name, body, status, segments_per_message, started_at, completed_at, last_activity_at)
    VALUES (${shopId}::uuid, 'Old', 'Hi', 'completed', 1, ${startedAt}, ${completedAt}, ${completedAt}) RETURNING id`;
  return c!.id;
}

it('a finished campaign that materialised no recipient (every contact opted out before the launch) draws the same empty chart after pruning', async () => {
  const shop = await createShop(t.env.db, { credits: 0 });
  const t0 = new Date(now.getTime() - (retention() + 5) * DAY);
  const id = await completedCampaign(shop.id, t0, new Date(t0.getTime() + 3600_000));
  const before = await charts(shop.id, id);
  // Zero-filled from the launch to the end, at every width.
  expect(before.every((c) => c.points.length > 0 && c.bucketSeconds !== null)).toBe(true);
  expect((await prune(id)).outcome).toBe('pruned');
  expect(await charts(shop.id, id)).toEqual(before);
});

it('a campaign whose events span more than 58 weeks (past every ladder width at auto) draws the same chart after pruning', async () => {
  const shop = await createShop(t.env.db, { credits: 0 });
  await createContactsBulk(t.env.db, shop.id, 4, { startAt: 9100 });
  const t0 = new Date(now.getTime() - (retention() + 450) * DAY);
  const id = await completedCampaign(shop.id, t0, new Date(t0.getTime() + 440 * DAY));
  await t.env.db.$executeRaw`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
    SELECT ${id}::uuid, c.id, 0, 'delivered', 'pm-' || gen_random_uuid(), 1,
           ${t0}::timestamptz + c.rn * interval '100 days', ${t0}::timestamptz + c.rn * interval '100 days' + interval '1 minute'
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM contacts WHERE shop_id = ${shop.id}::uuid) c`;
  await t.env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status, sent) VALUES (${id}::uuid, 0, 4, 'done', 4)`;
  const before = await charts(shop.id, id);
  // auto: 440 days over 58 buckets is past the 7-day width, so a multiple of it (14 days), not 440/58 days.
  expect(before[0]!.bucketSeconds).toBe(14 * 86_400);
  expect((await prune(id)).outcome).toBe('pruned');
  expect(await charts(shop.id, id)).toEqual(before);
});

it('deletes an eligible campaign in chunks, resumably, and no row of any other campaign', async () => {
  const shopId = await shopWithContacts(40, 1000);
  const otherShop = await shopWithContacts(10, 2000);
  const old = await campaignOf(shopId, 'completed', retention() + 10);
  const oldCancelled = await campaignOf(shopId, 'cancelled', retention() + 10);
  const recent = await campaignOf(shopId, 'completed', retention() - 2);
  const stillSending = await campaignOf(shopId, 'sending', retention() + 30);
  const othersOld = await campaignOf(otherShop, 'completed', retention() + 10);
  const untouched = [recent, stillSending, othersOld];
  const before = await Promise.all(untouched.map(rowsOf));
  expect(before).toEqual([40, 40, 10]);

  const m = t.deps.metrics;
  const runsOf = async (outcome: string): Promise<number> => (await m.recipientPruneRuns.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  const runsBefore = { pruned: await runsOf('pruned'), yielded: await runsOf('yielded'), not_eligible: await runsOf('not_eligible') };
  const rowsBefore = (await m.recipientPruneRows.get()).values[0]?.value ?? 0;
  const stepCount = async (step: string): Promise<number> =>
    (await m.recipientPruneStatementDuration.get()).values.find((v) => v.metricName === 'recipient_prune_statement_duration_seconds_count' && v.labels.step === step)?.value ?? 0;
  const stepsBefore = { freeze: await stepCount('freeze_read'), chunk: await stepCount('delete_chunk') };

  // Killed part-way: a slice of 0 ms runs one chunk, then yields; each run goes on from the rows left.
  const first = await prune(old, { chunkRows: 7, sliceMs: 0 });
  expect(first).toMatchObject({ outcome: 'yielded', deleted: 7, chunks: 1 });
  expect(await rowsOf(old)).toBe(33);
  const rest = await prune(old, { chunkRows: 7, sliceMs: 600_000 });
  expect(rest).toMatchObject({ outcome: 'pruned', deleted: 33, chunks: 5 });
  expect(rest.freeze).toEqual({ totalsMs: 0, timeseriesMs: 0, reads: 0, longestReadMs: 0 });
  expect(await rowsOf(old)).toBe(0);
  expect(await prune(old)).toMatchObject({ outcome: 'pruned', deleted: 0 });

  expect(await prune(oldCancelled, { chunkRows: 7 })).toMatchObject({ outcome: 'pruned', deleted: 40 });

  // A stray job for a recent, a live or a missing campaign: nothing frozen, nothing deleted.
  for (const id of untouched.slice(0, 2)) expect(await prune(id, { chunkRows: 7 })).toMatchObject({ outcome: 'not_eligible', deleted: 0 });
  expect(await prune('00000000-0000-4000-8000-00000000abcd')).toMatchObject({ outcome: 'not_eligible' });
  expect(await Promise.all(untouched.map(rowsOf))).toEqual(before);
  const frozen = await t.env.db.$queryRaw<{ id: string }[]>`
    SELECT id FROM campaigns WHERE id = ANY(${untouched.slice(0, 2)}::uuid[]) AND (recipient_totals IS NOT NULL OR recipient_timeseries IS NOT NULL)`;
  expect(frozen).toEqual([]);

  // What on-call reads: runs by outcome, rows deleted, and each statement's duration (the freeze's reads of both campaigns, every chunk).
  expect({ pruned: await runsOf('pruned'), yielded: await runsOf('yielded'), not_eligible: await runsOf('not_eligible') }).toEqual({
    pruned: runsBefore.pruned + 3,
    yielded: runsBefore.yielded + 1,
    not_eligible: runsBefore.not_eligible + 3,
  });
  expect((await m.recipientPruneRows.get()).values[0]?.value).toBe(rowsBefore + 80);
  expect(await stepCount('delete_chunk')).toBe(stepsBefore.chunk + 1 + 5 + 6);
  expect(await stepCount('freeze_read')).toBeGreaterThanOrEqual(stepsBefore.freeze + 4);
});

it('deletes nothing of a campaign whose freeze did not finish, and a freeze of an ineligible one writes nothing', async () => {
  const shopId = await shopWithContacts(12, 3000);
  const old = await campaignOf(shopId, 'completed', retention() + 1);
  // Totals only (as if the run died between its two statements): not frozen, so the delete guard holds.
  await t.env.db.$executeRaw`UPDATE campaigns SET recipient_totals = '{}'::jsonb WHERE id = ${old}::uuid`;
  await expect(t.env.db.$executeRaw`UPDATE campaigns SET recipients_pruned_at = now() WHERE id = ${old}::uuid`).rejects.toThrow(/campaigns_recipients_pruned_check/);
  // The next run writes the missing column only (the first stays as it was) and then deletes.
  const r = await prune(old);
  expect(r.outcome).toBe('pruned');
  expect(r.freeze.totalsMs).toBe(0);
  expect(r.freeze.timeseriesMs).toBeGreaterThan(0);
  const recent = await campaignOf(shopId, 'cancelled', retention() - 1);
  expect((await freezeCampaignRecipients(t.env.db, { campaignId: recent, now, retentionDays: retention() })).outcome).toBe('not_eligible');
  expect(await rowsOf(recent)).toBe(12);
});

it('closes a late delivery report for a pruned recipient as ignored, on both report paths, and changes nothing', async () => {
  const shopId = await shopWithContacts(8, 4000);
  const id = await campaignOf(shopId, 'completed', retention() + 1);
  const sent = await t.env.db.$queryRaw<{ id: bigint; pmid: string }[]>`
    SELECT id, provider_message_id AS pmid FROM campaign_recipients WHERE campaign_id = ${id}::uuid AND status = 'sent' ORDER BY id LIMIT 1`;
  const delivered = await t.env.db.$queryRaw<{ id: bigint; pmid: string }[]>`
    SELECT id, provider_message_id AS pmid FROM campaign_recipients WHERE campaign_id = ${id}::uuid AND status = 'delivered' ORDER BY id LIMIT 1`;
  const statsBefore = await campaignStats(t.env.db, shopId, id);
  expect((await prune(id)).outcome).toBe('pruned');

  const report = async (r: { id: bigint; pmid: string }): Promise<string> =>
    (await recordWebhookEvent(t.env.db, { provider: 'sms-simulator', eventId: rid('dlr'), topic: 'status', payload: { id: r.pmid, reference: `r${r.id}`, status: 'delivered' } }))!;
  // The per-event handler: ignored at once (no retry; it would never match).
  const single = await report(sent[0]!);
  expect(await processWebhookEvent(t.deps, single, { final: false })).toBe('ignored');
  // The bulk drain: closed in its pass, neither waiting nor handed back as not ready.
  await t.env.db.$executeRaw`UPDATE webhook_events SET status = 'processed' WHERE status = 'received' AND id <> ${single}::uuid`;
  const bulk = await report(delivered[0]!);
  const pass = await applyDeliveryReports(t.env.db, { limit: 100 });
  expect(pass).toMatchObject({ claimed: 1, waiting: 0, notReady: [] });
  expect(pass.outcomes).toEqual([{ provider: 'sms-simulator', outcome: 'ignored', n: 1 }]);
  const events = await t.env.db.$queryRaw<{ status: string; last_error: string | null }[]>`
    SELECT status, last_error FROM webhook_events WHERE id = ANY(${[single, bulk]}::uuid[])`;
  expect(events).toEqual([{ status: 'ignored', last_error: null }, { status: 'ignored', last_error: null }]);
  expect(await rowsOf(id)).toBe(0);
  expect(await campaignStats(t.env.db, shopId, id)).toEqual(statsBefore);
});

it('reconciliation adds the pruning job of eligible campaigns only, once', async () => {
  const shopId = await shopWithContacts(6, 5000);
  const eligible = await campaignOf(shopId, 'completed', retention() + 5);
  const recent = await campaignOf(shopId, 'completed', retention() - 5);
  const sending = await campaignOf(shopId, 'sending', retention() + 50);
  const pruned = await campaignOf(shopId, 'cancelled', retention() + 5);
  expect((await prune(pruned)).outcome).toBe('pruned');
  // Cancelled, but a batch job still has a pending row to cancel: not finished yet.
  const openCancelled = await campaignOf(shopId, 'cancelled', retention() + 5);
  await createContactsBulk(t.env.db, shopId, 1, { startAt: 5100 });
  await t.env.db.$executeRaw`
    WITH r AS (
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status)
      SELECT ${openCancelled}::uuid, c.id, 9, 'pending' FROM contacts c
       WHERE c.shop_id = ${shopId}::uuid AND NOT EXISTS (SELECT 1 FROM campaign_recipients x WHERE x.campaign_id = ${openCancelled}::uuid AND x.contact_id = c.id)
      RETURNING 1)
    INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status) SELECT ${openCancelled}::uuid, 9, count(*)::int, 'pending' FROM r`;

  const deps = { ...t.deps, now: () => now };
  const pass = async () => (await runReconciliation(deps)).repairs.recipient_pruning_queued;
  const queued = async (id: string) => t.deps.queues.get('maintenance').getJob(jobIds.pruneRecipients(id));

  // This file's other old campaigns may be due too: the question is which of these four got a job.
  expect(await pass()).toBeGreaterThanOrEqual(1);
  const job = await queued(eligible);
  expect(job?.name).toBe('campaigns.prune-recipients.v1');
  expect(job?.data).toMatchObject({ campaignId: eligible });
  for (const id of [recent, sending, pruned, openCancelled]) expect(await queued(id)).toBeUndefined();
  // Still waiting in its queue: a second pass adds nothing.
  expect(await pass()).toBe(0);

  // The gauges on-call watches: finished campaigns past their cutoff with rows (the open cancelled one too: it waits for its batch), and how late the oldest is.
  const gauges = () => readDbGauges(t.env.db, now, now, { retentionDays: retention() });
  const before = await gauges();
  expect(before.recipientPruningDue).toBeGreaterThanOrEqual(2);
  // campaignOf's last activity is ~contacts × 7 minutes after its start: the oldest of this file's is at least 4 days past the cutoff.
  expect(before.recipientPruningOldestOverdueSeconds).toBeGreaterThan(4 * 86_400);
  setDbGauges(t.deps.metrics, before);
  expect((await t.deps.metrics.recipientPruningDue.get()).values[0]?.value).toBe(before.recipientPruningDue);
  expect((await readDbGauges(t.env.db, now, now)).recipientPruningDue).toBe(0);

  // Run, it prunes; the campaign then leaves the index reconciliation reads, and the count.
  expect((await prune(eligible)).outcome).toBe('pruned');
  expect((await gauges()).recipientPruningDue).toBe(before.recipientPruningDue - 1);
  await job!.remove();
  expect(await pass()).toBe(0);
  expect(await queued(eligible)).toBeUndefined();
});
