import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { createCampaign, createContact, createContactsBulk, createShop } from '../../../test/factories';
import type { WorkerDeps } from './deps';
import { jobIds } from '../../../queue/job-ids';
import { JOB_QUEUE } from '../../../queue/names';
import { runReconciliation, type RepairKind } from '../../../domain/reconciliation/run-reconciliation';
import { ReconciliationStepsFailed } from '../../../domain/reconciliation/pass-steps';
import { Worker } from 'bullmq';
import { queueOptions } from '../../../queue/connection';
import { createMetrics } from '../../../lib/metrics';

// For each repair kind: build the broken state directly, run one pass → it is
// repaired exactly once; a second pass repairs nothing. No workers run here,
// so a re-added job stays waiting ("live") for the second pass.

let env: TestEnv;
let deps: WorkerDeps;
beforeAll(async () => {
  env = await createTestEnv();
  deps = env.workerDeps();
});
afterAll(async () => {
  await env.close();
});
beforeEach(async () => {
  await Promise.all(deps.queues.all().map((q) => q.obliterate({ force: true })));
});

const ago = (ms: number): Date => new Date(Date.now() - ms);

async function pass(campaignId?: string) {
  return runReconciliation(deps, { campaignId });
}
function only(repairs: Record<RepairKind, number>): Partial<Record<RepairKind, number>> {
  return Object.fromEntries(Object.entries(repairs).filter(([, n]) => n > 0));
}

async function sendingCampaign(recipientStatus: 'pending' | 'sending' | 'sent', o: { batchStatus?: string; reserve?: number } = {}) {
  const shop = await createShop(env.db, { credits: 100 });
  const c = await createCampaign(env.db, shop.id, { status: 'sending' });
  await env.db.$executeRaw`UPDATE campaigns SET segments_per_message = 1, started_at = now(), trace_id = 'trace-rec' WHERE id = ${c.id}::uuid`;
  const contact = await createContact(env.db, shop.id);
  await env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status) VALUES (${c.id}::uuid, 0, 1, ${o.batchStatus ?? 'pending'})`;
  if (recipientStatus === 'sending') {
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, claim_token, lease_until, attempt)
      VALUES (${c.id}::uuid, ${contact.id}::uuid, 0, 'sending', ${randomUUID()}::uuid, ${ago(5_000)}, 1)`;
  } else if (recipientStatus === 'sent') {
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
      VALUES (${c.id}::uuid, ${contact.id}::uuid, 0, 'sent', ${`pm-${randomUUID()}`}, 1, now())`;
  } else {
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c.id}::uuid, ${contact.id}::uuid, 0)`;
  }
  if (o.reserve) {
    await env.db.$executeRaw`UPDATE credit_wallets SET reserved = reserved + ${o.reserve}::bigint WHERE shop_id = ${shop.id}::uuid`;
    await env.db.$executeRaw`INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, ${`campaign-${c.id}`}, ${o.reserve}::bigint)`;
  }
  return { shop, campaign: c, contact };
}

it('re-adds the batch job for recipients stuck in sending past their lease (stale_lease), once', async () => {
  const { campaign } = await sendingCampaign('sending');
  expect(only((await pass(campaign.id)).repairs)).toEqual({ stale_lease: 1 });
  const job = await deps.queues.get('sends').getJob(jobIds.sendBatch(campaign.id, 0));
  expect(job?.data).toMatchObject({ campaignId: campaign.id, batchNo: 0, traceId: 'trace-rec' });
  expect(only((await pass(campaign.id)).repairs)).toEqual({});
});

it('re-adds a batch job deleted from Redis (batch_job_missing), once, with the same deterministic id', async () => {
  const { campaign, shop } = await sendingCampaign('pending');
  await deps.producer.add('campaign.send-batch.v1', { traceId: 't', campaignId: campaign.id, shopId: shop.id, batchNo: 0 }, { jobId: jobIds.sendBatch(campaign.id, 0) });
  expect(only((await pass(campaign.id)).repairs)).toEqual({});
  await (await deps.queues.get('sends').getJob(jobIds.sendBatch(campaign.id, 0)))!.remove();
  expect(only((await pass(campaign.id)).repairs)).toEqual({ batch_job_missing: 1 });
  expect(await deps.queues.get('sends').getJob(jobIds.sendBatch(campaign.id, 0))).toBeDefined();
  expect(only((await pass(campaign.id)).repairs)).toEqual({});
});

it('re-adds the lost job of a cancelled campaign\'s unclaimed batch whose pending rows the cancel left to it', async () => {
  const { campaign } = await sendingCampaign('pending');
  await env.db.$executeRaw`UPDATE campaigns SET status = 'cancelled', cancelled_at = now() WHERE id = ${campaign.id}::uuid`;
  expect(only((await pass(campaign.id)).repairs)).toEqual({ batch_job_missing: 1 });
  expect(await deps.queues.get('sends').getJob(jobIds.sendBatch(campaign.id, 0))).toBeDefined();
  expect(only((await pass(campaign.id)).repairs)).toEqual({});
});

it('re-adds a batch job that already finished while the batch still has pending recipients', async () => {
  const { campaign, shop } = await sendingCampaign('pending');
  const queue = deps.queues.get('sends');
  const id = jobIds.sendBatch(campaign.id, 0);
  await deps.producer.add('campaign.send-batch.v1', { traceId: 't', campaignId: campaign.id, shopId: shop.id, batchNo: 0 }, { jobId: id });
  // A worker that completes the job without doing the work: the id now sits in
  // the completed set, where BullMQ would ignore a plain re-add.
  const worker = new Worker('sends', async () => 'nothing done', queueOptions(deps.redis, env.prefix, 'sends'));
  for (let i = 0; i < 100 && (await (await queue.getJob(id))!.getState()) !== 'completed'; i++) await new Promise((r) => setTimeout(r, 20));
  await worker.close();
  expect(await (await queue.getJob(id))!.getState()).toBe('completed');
  expect(only((await pass(campaign.id)).repairs)).toEqual({ batch_job_missing: 1 });
  // Re-added with the batch's place in its shop's queue (fair sharing): the prioritized set, not the plain wait list.
  expect(await (await queue.getJob(id))!.getState()).toBe('prioritized');
  expect((await queue.getJob(id))!.opts.priority).toBe(1);
  expect(only((await pass(campaign.id)).repairs)).toEqual({});
});

it('marks a batch done whose recipients are all settled (batch_marked_done), and completes the campaign once (campaign_completed)', async () => {
  const { campaign, shop } = await sendingCampaign('sent', { reserve: 10 });
  const first = await pass(campaign.id);
  expect(only(first.repairs)).toEqual({ batch_marked_done: 1, campaign_completed: 1 });
  const [c] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${campaign.id}::uuid`;
  expect(c!.status).toBe('completed');
  const [w] = await env.db.$queryRaw<{ reserved: bigint }[]>`SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  expect(Number(w!.reserved)).toBe(0);
  const outbox = await env.db.$queryRaw<{ event_type: string }[]>`SELECT event_type FROM outbox_events WHERE aggregate_id = ${campaign.id}`;
  expect(outbox.map((o) => o.event_type)).toEqual(['campaign.completed.v1']);
  expect(only((await pass(campaign.id)).repairs)).toEqual({});
});

it('launches a due scheduled campaign (schedule_due) and a queued one whose launch job was lost (launch_requeued), once each', async () => {
  const shop = await createShop(env.db);
  const due = await createCampaign(env.db, shop.id, { status: 'scheduled', scheduledAt: ago(1_000) });
  const future = await createCampaign(env.db, shop.id, { status: 'scheduled', scheduledAt: new Date(Date.now() + 3_600_000) });
  const queued = await createCampaign(env.db, shop.id, { status: 'queued' });
  await env.db.$executeRaw`UPDATE campaigns SET last_activity_at = ${ago(env.config.SEND_LEASE_MS + 5_000)} WHERE id = ${queued.id}::uuid`;
  const report = await pass();
  expect(report.repairs.schedule_due).toBe(1);
  expect(report.repairs.launch_requeued).toBe(1);
  const campaigns = deps.queues.get('campaigns');
  expect(await campaigns.getJob(jobIds.launch(due.id))).toBeDefined();
  expect(await campaigns.getJob(jobIds.launch(queued.id))).toBeDefined();
  expect(await campaigns.getJob(jobIds.launch(future.id))).toBeUndefined();
  const second = await pass();
  expect(second.repairs.schedule_due).toBe(0);
  expect(second.repairs.launch_requeued).toBe(0);
});

it('publishes outbox events a crash left unpublished (outbox_published), once', async () => {
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() WHERE published_at IS NULL`;
  await env.db.$executeRaw`INSERT INTO outbox_events (event_type, aggregate_id, payload, available_at, created_at)
    VALUES ('campaign.completed.v1', ${randomUUID()}, '{}'::jsonb, ${ago(120_000)}, ${ago(120_000)})`;
  expect((await pass()).repairs.outbox_published).toBe(1);
  expect((await pass()).repairs.outbox_published).toBe(0);
});

it('releases reservations that nothing will consume (reservation_released), once, keeping wallet.reserved in step', async () => {
  const shop = await createShop(env.db, { credits: 50 });
  const c = await createCampaign(env.db, shop.id, { status: 'completed' });
  await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 20 WHERE shop_id = ${shop.id}::uuid`;
  await env.db.$executeRaw`INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, 'orphan', 20)`;
  expect((await pass()).repairs.reservation_released).toBe(1);
  const [w] = await env.db.$queryRaw<{ reserved: bigint }[]>`SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  expect(Number(w!.reserved)).toBe(0);
  expect((await pass()).repairs.reservation_released).toBe(0);
});

it('re-enqueues webhook events stuck in received (webhook_requeued), once', async () => {
  const [row] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, payload, received_at) VALUES ('stripe', ${`evt_${randomUUID()}`}, 'charge.refunded', '{}'::jsonb, ${ago(300_000)}) RETURNING id`;
  expect((await pass()).repairs.webhook_requeued).toBe(1);
  expect(await deps.queues.get('webhooks').getJob(jobIds.webhook(row!.id))).toBeDefined();
  expect((await pass()).repairs.webhook_requeued).toBe(0);
});

it('re-enqueues a received webhook event whose job was lost after 8 failed attempts (its job has 10), and never a failed one', async () => {
  const [row] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, payload, attempts, received_at)
    VALUES ('stripe', ${`evt_${randomUUID()}`}, 'charge.refunded', '{}'::jsonb, 9, ${ago(300_000)}) RETURNING id`;
  const [failed] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, received_at)
    VALUES ('stripe', ${`evt_${randomUUID()}`}, 'charge.refunded', '{}'::jsonb, 'failed', 10, ${ago(300_000)}) RETURNING id`;
  expect((await pass()).repairs.webhook_requeued).toBeGreaterThanOrEqual(1);
  expect(await deps.queues.get('webhooks').getJob(jobIds.webhook(row!.id))).toBeDefined();
  // Final until an operator replays it (`webhook:replay --failed`): a poison event would loop every pass.
  expect(await deps.queues.get('webhooks').getJob(jobIds.webhook(failed!.id))).toBeUndefined();
  expect((await pass()).repairs.webhook_requeued).toBe(0);
});

it('deletes expired idempotency keys (idempotency_keys_deleted), once', async () => {
  const shop = await createShop(env.db);
  await env.db.$executeRaw`
    INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, status, response_status, locked_until, expires_at)
    SELECT ${shop.id}::uuid, 'POST', '/api/x', 'k' || g, 'f', 'failed', NULL, now(), ${ago(1_000)} FROM generate_series(1, 3) g`;
  expect((await pass()).repairs.idempotency_keys_deleted).toBe(3);
  expect((await pass()).repairs.idempotency_keys_deleted).toBe(0);
});

it('prunes finished webhook events and published outbox rows past their retention (webhook_events_pruned, outbox_pruned), once', async () => {
  const old = ago(env.config.WEBHOOK_RETENTION_MS + 60_000);
  await env.db.$executeRaw`
    INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, received_at, processed_at)
    VALUES ('sms', ${`old-${randomUUID()}`}, 'status', '{}'::jsonb, 'processed', 1, ${old}, ${old}),
           ('sms', ${`old-${randomUUID()}`}, 'status', '{}'::jsonb, 'failed', 99, ${old}, NULL),
           ('sms', ${`new-${randomUUID()}`}, 'status', '{}'::jsonb, 'processed', 1, now(), now())`;
  await env.db.$executeRaw`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, published_at)
    VALUES ('campaign.completed.v1', 'old', '{}'::jsonb, ${ago(env.config.OUTBOX_RETENTION_MS + 60_000)}),
           ('campaign.completed.v1', 'new', '{}'::jsonb, now())`;
  const first = await pass();
  expect(first.repairs.webhook_events_pruned).toBe(1);
  expect(first.repairs.outbox_pruned).toBe(1);
  // A failed event is kept for a person to look at, whatever its age.
  const [kept] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events WHERE event_id LIKE 'old-%' AND status = 'failed'`;
  expect(Number(kept!.n)).toBe(1);
  const second = await pass();
  expect([second.repairs.webhook_events_pruned, second.repairs.outbox_pruned]).toEqual([0, 0]);
});

it('prunes the dedup keys of single delivery reports past the inbox retention (delivery_report_keys_pruned), once; younger keys stay', async () => {
  const old = ago(env.config.WEBHOOK_RETENTION_MS + 60_000);
  const tag = randomUUID();
  await env.db.$executeRaw`
    INSERT INTO delivery_report_keys (provider, event_id, received_at)
    VALUES ('sms-mitto', ${`old-${tag}:delivered`}, ${old}), ('sms-simulator', ${`old-${tag}:failed`}, ${old}),
           ('sms-mitto', ${`new-${tag}:delivered`}, now())`;
  expect((await pass()).repairs.delivery_report_keys_pruned).toBe(2);
  const left = await env.db.$queryRaw<{ event_id: string }[]>`SELECT event_id FROM delivery_report_keys WHERE event_id LIKE ${`%-${tag}:%`}`;
  expect(left.map((r) => r.event_id)).toEqual([`new-${tag}:delivered`]);
  expect((await pass()).repairs.delivery_report_keys_pruned).toBe(0);
});

it('prunes dead outbox events set aside longer ago than OUTBOX_DEAD_RETENTION_MS (outbox_dead_pruned), naming them in the log, once; younger dead and pending ones stay', async () => {
  expect(env.config.OUTBOX_DEAD_RETENTION_MS).toBe(30 * 24 * 3600_000);
  const old = ago(env.config.OUTBOX_DEAD_RETENTION_MS + 60_000);
  const young = ago(env.config.OUTBOX_DEAD_RETENTION_MS - 3_600_000);
  const rows = await env.db.$queryRaw<{ id: string; aggregate_id: string }[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, attempts, last_error, available_at, created_at, dead_at)
    VALUES ('flows.trigger.v1', 'dead-old', '{}'::jsonb, 8, 'ZodError: shopId: Required', ${old}, ${old}, ${old}),
           ('flows.trigger.v1', 'dead-young', '{}'::jsonb, 8, 'ZodError: shopId: Required', ${young}, ${young}, ${young})
    RETURNING id::text AS id, aggregate_id`;
  // An unpublished event as old (its publishes failing by error, never dead) is work still to do: never pruned.
  await env.db.$executeRaw`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, attempts, last_error, available_at, created_at, next_attempt_at)
    VALUES ('campaign.completed.v1', 'pending-old', '{}'::jsonb, 50, 'ECONNREFUSED', ${old}, ${old}, ${ago(-3_600_000)})`;
  try {
    await expectDeadPruned(rows);
  } finally {
    // Never left for the other tests' passes, whatever happened here.
    await env.db.$executeRaw`DELETE FROM outbox_events WHERE aggregate_id IN ('dead-old', 'dead-young', 'pending-old')`;
  }
});

async function expectDeadPruned(rows: { id: string; aggregate_id: string }[]): Promise<void> {
  const first = await pass();
  expect(first.repairs.outbox_dead_pruned).toBe(1);
  const left = await env.db.$queryRaw<{ aggregate_id: string }[]>`
    SELECT aggregate_id FROM outbox_events WHERE aggregate_id IN ('dead-old', 'dead-young', 'pending-old') ORDER BY aggregate_id`;
  expect(left.map((r) => r.aggregate_id)).toEqual(['dead-young', 'pending-old']);
  const oldId = rows.find((r) => r.aggregate_id === 'dead-old')!.id;
  const line = env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => typeof l.msg === 'string' && l.msg.startsWith('dead outbox events pruned past their retention'));
  expect(line).toMatchObject({ level: 'warn', pruned: 1, byType: { 'flows.trigger.v1': 1 }, outboxIds: [oldId] });
  expect((await pass()).repairs.outbox_dead_pruned).toBe(0);
}

it('reports a wallet that disagrees with its ledger, without changing it', async () => {
  const shop = await createShop(env.db, { credits: 30 });
  await env.db.$executeRaw`UPDATE credit_wallets SET balance = balance + 5 WHERE shop_id = ${shop.id}::uuid`;
  const report = await pass();
  expect(report.ledgerMismatches).toEqual([{ shopId: shop.id, balance: 35, ledgerSum: 30, reserved: 0, activeReservations: 0 }]);
  expect(await deps.metrics.creditLedgerMismatches.get()).toMatchObject({ values: [{ value: 1 }] });
  const [w] = await env.db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  expect(Number(w!.balance)).toBe(35);
  // Put it back so later tests see a consistent ledger.
  await env.db.$executeRaw`UPDATE credit_wallets SET balance = balance - 5 WHERE shop_id = ${shop.id}::uuid`;
  expect((await pass()).ledgerMismatches).toEqual([]);
});

it('counts campaigns with no activity for STUCK_AFTER_MS in campaigns_stuck, and every repair by kind in the metric', async () => {
  const shop = await createShop(env.db);
  const c = await createCampaign(env.db, shop.id, { status: 'sending' });
  await env.db.$executeRaw`UPDATE campaigns SET last_activity_at = ${ago(env.config.STUCK_AFTER_MS + 60_000)} WHERE id = ${c.id}::uuid`;
  const { campaign } = await sendingCampaign('sending');
  const metrics = createMetrics();
  const report = await runReconciliation({ ...deps, metrics }, {});
  expect(report.campaignsStuck).toBeGreaterThanOrEqual(1);
  expect((await metrics.campaignsStuck.get()).values[0]?.value).toBe(report.campaignsStuck);
  expect(report.repairs.stale_lease).toBeGreaterThanOrEqual(1);
  const counted = Object.fromEntries((await metrics.reconciliationRepairs.get()).values.map((v) => [v.labels.kind, v.value]));
  expect(counted).toEqual(only(report.repairs));
  expect((await metrics.reconciliationRuns.get()).values[0]?.value).toBe(1);
  await env.db.$executeRaw`UPDATE campaigns SET status = 'cancelled' WHERE id = ANY(${[c.id, campaign.id]}::uuid[])`;
});

it('re-adds the erasure job of a shop still there minutes after its shop/redact (shop_erasure_requeued), once per loss', async () => {
  const stale = await createShop(env.db);
  const fresh = await createShop(env.db);
  await env.db.$executeRaw`UPDATE shops SET status = 'redacted', erasure_requested_at = ${ago(10 * 60_000)} WHERE id = ${stale.id}::uuid`;
  await env.db.$executeRaw`UPDATE shops SET status = 'redacted', erasure_requested_at = ${ago(60_000)} WHERE id = ${fresh.id}::uuid`;
  const maintenance = deps.queues.get('maintenance');

  expect((await pass()).repairs.shop_erasure_requeued).toBe(1);
  expect((await maintenance.getJob(jobIds.shopErase(stale.id)))?.data).toMatchObject({ shopId: stale.id });
  // Just requested: its own job is still on its way.
  expect(await maintenance.getJob(jobIds.shopErase(fresh.id))).toBeUndefined();
  // Waiting (or running, or between slices): live, nothing to repair.
  expect((await pass()).repairs.shop_erasure_requeued).toBe(0);
  // Lost again (Redis, or given up after its attempts): back once more.
  await (await maintenance.getJob(jobIds.shopErase(stale.id)))!.remove();
  expect((await pass()).repairs.shop_erasure_requeued).toBe(1);

  // Erased: nothing more to re-add, and later passes see no such shop.
  await env.db.$executeRaw`DELETE FROM shops WHERE id = ANY(${[stale.id, fresh.id]}::uuid[])`;
  await maintenance.obliterate({ force: true });
  expect((await pass()).repairs.shop_erasure_requeued).toBe(0);
});

it('re-adds the history job of a flow still there minutes after its DELETE (flow_deletion_requeued), once per loss; leaves other flows alone', async () => {
  const shop = await createShop(env.db);
  const flows = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO flows (shop_id, name, trigger_type) SELECT ${shop.id}::uuid, 'Flow ' || g, 'order_created' FROM generate_series(1, 3) g RETURNING id`;
  const [stale, fresh, kept] = flows.map((f) => f.id) as [string, string, string];
  await env.db.$executeRaw`UPDATE flows SET status = 'deleted', deleted_at = ${ago(10 * 60_000)} WHERE id = ${stale}::uuid`;
  await env.db.$executeRaw`UPDATE flows SET status = 'deleted', deleted_at = ${ago(60_000)} WHERE id = ${fresh}::uuid`;
  const maintenance = deps.queues.get('maintenance');

  expect((await pass()).repairs.flow_deletion_requeued).toBe(1);
  const job = await maintenance.getJob(jobIds.flowDelete(stale));
  expect(job?.name).toBe('flows.delete.v1');
  expect(job?.data).toMatchObject({ flowId: stale });
  // Just deleted: its own job is still on its way; a flow not deleted has none.
  expect(await maintenance.getJob(jobIds.flowDelete(fresh))).toBeUndefined();
  expect(await maintenance.getJob(jobIds.flowDelete(kept))).toBeUndefined();
  // Waiting (or running, or between slices): live, nothing to repair.
  expect((await pass()).repairs.flow_deletion_requeued).toBe(0);
  // Lost again (Redis, or given up after its attempts): back once more.
  await (await maintenance.getJob(jobIds.flowDelete(stale)))!.remove();
  expect((await pass()).repairs.flow_deletion_requeued).toBe(1);

  // Removed by its job: nothing more to re-add.
  await env.db.$executeRaw`DELETE FROM flows WHERE id = ANY(${[stale, fresh, kept]}::uuid[])`;
  await maintenance.obliterate({ force: true });
  expect((await pass()).repairs.flow_deletion_requeued).toBe(0);
});

it('re-adds a lost batch job even when more than `limit` older pending batches of another campaign have live jobs', async () => {
  // A big campaign: 201 pending batches older than anything else, each with its job waiting (live).
  const shopA = await createShop(env.db, { credits: 100 });
  const big = await createCampaign(env.db, shopA.id, { status: 'sending' });
  await createContactsBulk(env.db, shopA.id, 201);
  await env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status, updated_at)
    SELECT ${big.id}::uuid, n, 1, 'pending', now() - interval '1 hour' FROM generate_series(0, 200) n`;
  await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no)
    SELECT ${big.id}::uuid, id, (row_number() OVER (ORDER BY id) - 1)::int FROM contacts WHERE shop_id = ${shopA.id}::uuid`;
  await deps.producer.addBulk('campaign.send-batch.v1', Array.from({ length: 201 }, (_, n) => ({
    payload: { traceId: 't', campaignId: big.id, shopId: shopA.id, batchNo: n }, opts: { jobId: jobIds.sendBatch(big.id, n) },
  })));
  // Another shop's small campaign whose only batch job was lost.
  const { campaign: small } = await sendingCampaign('pending');

  try {
    for (let i = 0; i < 3; i++) await pass();
    expect(await deps.queues.get('sends').getJob(jobIds.sendBatch(small.id, 0))).toBeDefined();
  } finally {
    await env.db.$executeRaw`UPDATE campaign_batches SET status = 'done' WHERE campaign_id = ANY(${[big.id, small.id]}::uuid[])`;
    await env.db.$executeRaw`UPDATE campaigns SET status = 'completed' WHERE id = ANY(${[big.id, small.id]}::uuid[])`;
  }
});

it('re-adds the job of a pending consent write-back whose published job was lost (consent_writeback_requeued), once per loss', async () => {
  const shop = await createShop(env.db);
  const contact = await createContact(env.db, shop.id);
  await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = '1234567' WHERE id = ${contact.id}::uuid`;
  // The consent record's trigger queues the write-back: its status row and its outbox event.
  const [rec] = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO contact_consent_records (shop_id, contact_id, state, source, collected_at)
    VALUES (${shop.id}::uuid, ${contact.id}::uuid, 'unsubscribed', 'keyword', now()) RETURNING id`;
  // Published an hour ago, its job since lost with Redis.
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() - interval '1 hour', available_at = now() - interval '1 hour'
    WHERE event_type = 'contact.consent-writeback.v1' AND aggregate_id = ${contact.id}`;
  await env.db.$executeRaw`UPDATE shopify_consent_writebacks SET updated_at = now() - interval '1 hour' WHERE contact_id = ${contact.id}::uuid`;
  const [wb] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shopify_consent_writebacks WHERE contact_id = ${contact.id}::uuid`;
  expect(wb?.status).toBe('pending');
  const shopify = deps.queues.get('shopify');
  const jobId = jobIds.consentWriteback(String(rec!.id));

  expect((await pass()).repairs.consent_writeback_requeued).toBe(1);
  const job = await shopify.getJob(jobId);
  expect(job?.name).toBe('contact.consent-writeback.v1');
  expect(job?.data).toMatchObject({ shopId: shop.id, contactId: contact.id, recordId: String(rec!.id) });
  // Waiting: live, nothing to repair.
  expect((await pass()).repairs.consent_writeback_requeued).toBe(0);
  // Lost again: back once more.
  await job!.remove();
  expect((await pass()).repairs.consent_writeback_requeued).toBe(1);
  // Written (or skipped): no longer pending, nothing to re-add.
  await env.db.$executeRaw`UPDATE shopify_consent_writebacks SET status = 'done' WHERE contact_id = ${contact.id}::uuid`;
  await shopify.obliterate({ force: true });
  expect((await pass()).repairs.consent_writeback_requeued).toBe(0);
});

it('re-adds a lost keyword reply job even when more than `limit` older replies wait behind a backlog with live jobs, before the reply expires', async () => {
  const shop = await createShop(env.db);
  // A STOP wave's replies: 201 older than the lost one, each with its job waiting (live).
  const backlog = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO keyword_replies (provider, inbound_message_id, shop_id, keyword, scope, sender, to_phone_sealed, to_hash, to_hmac, body, created_at)
    SELECT 'simulator', 'wave-' || ${shop.id} || '-' || n, ${shop.id}::uuid, 'STOP', ${`shop:${shop.id}`}, '15550000002', 'sealed', 'hash', 'hmac', 'You are unsubscribed.',
           now() - interval '10 minutes' + n * interval '1 millisecond'
      FROM generate_series(0, 200) n
    RETURNING id`;
  await deps.producer.addBulk(
    'keyword.reply.v1',
    backlog.map((r) => ({ payload: { traceId: 't', replyId: String(r.id) }, opts: { jobId: jobIds.keywordReply(String(r.id)) } })),
  );
  const [lost] = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO keyword_replies (provider, inbound_message_id, shop_id, keyword, scope, sender, to_phone_sealed, to_hash, to_hmac, body, created_at)
    VALUES ('simulator', ${`lost-${shop.id}`}, ${shop.id}::uuid, 'HELP', ${`shop:${shop.id}`}, '15550000002', 'sealed', 'hash', 'hmac', 'Help text', now() - interval '5 minutes')
    RETURNING id`;
  try {
    for (let i = 0; i < 3; i++) await pass();
    expect(await deps.queues.get(JOB_QUEUE['keyword.reply.v1']).getJob(jobIds.keywordReply(String(lost!.id)))).toBeDefined();
  } finally {
    await env.db.$executeRaw`UPDATE keyword_replies SET status = 'failed', error_code = 'expired', to_phone_sealed = NULL, final_at = now() WHERE shop_id = ${shop.id}::uuid`;
  }
});

it('a step that throws (the outbox\'s publish, Redis refusing it) does not stop the others: they still repair, the failure is logged and counted, and the pass fails', async () => {
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() WHERE published_at IS NULL`;
  // A valid event whose publish fails as an unreachable Redis does: dispatchOutbox records it and throws (a poison
  // payload no longer does: the next test). Only this job's adds fail, so the other steps reach Redis.
  await env.db.$executeRaw`INSERT INTO outbox_events (event_type, aggregate_id, payload, available_at, created_at)
    VALUES ('contacts.import.v1', 'unreachable', ${JSON.stringify({ importId: randomUUID(), shopId: randomUUID() })}::jsonb, ${ago(120_000)}, ${ago(120_000)})`;
  const producer: typeof deps.producer = {
    add: async (name, payload, opts) => {
      if (name === 'contacts.import.v1') throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
      return deps.producer.add(name, payload, opts);
    },
    addBulk: (name, jobs) => deps.producer.addBulk(name, jobs),
  };
  // Work for the steps after the outbox: a stuck webhook event, expired idempotency keys, a wallet off its ledger.
  const [event] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, payload, received_at) VALUES ('stripe', ${`evt_${randomUUID()}`}, 'charge.refunded', '{}'::jsonb, ${ago(300_000)}) RETURNING id`;
  const keysShop = await createShop(env.db);
  await env.db.$executeRaw`
    INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, status, response_status, locked_until, expires_at)
    SELECT ${keysShop.id}::uuid, 'POST', '/api/x', 'k' || g, 'f', 'failed', NULL, now(), ${ago(1_000)} FROM generate_series(1, 2) g`;
  const off = await createShop(env.db, { credits: 30 });
  await env.db.$executeRaw`UPDATE credit_wallets SET balance = balance + 5 WHERE shop_id = ${off.id}::uuid`;
  const metrics = createMetrics();
  try {
    const failed: unknown = await runReconciliation({ ...deps, producer, metrics }).then(() => 'completed', (err: unknown) => err);

    expect(await deps.queues.get('webhooks').getJob(jobIds.webhook(event!.id))).toBeDefined();
    const [keys] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM idempotency_keys WHERE shop_id = ${keysShop.id}::uuid`;
    expect(Number(keys!.n)).toBe(0);
    expect(await metrics.creditLedgerMismatches.get()).toMatchObject({ values: [{ value: 1 }] });
    // Still a failed pass: the job fails (and is retried), and no completed pass is counted.
    expect(failed).toBeInstanceOf(ReconciliationStepsFailed);
    const { failures, report } = failed as ReconciliationStepsFailed<Awaited<ReturnType<typeof runReconciliation>>>;
    expect(failures.map((f) => f.step)).toEqual(['outbox']);
    expect(report.repairs).toMatchObject({ idempotency_keys_deleted: 2 });
    expect(report.repairs.webhook_requeued).toBeGreaterThanOrEqual(1);
    expect(report.ledgerMismatches).toEqual([{ shopId: off.id, balance: 35, ledgerSum: 30, reserved: 0, activeReservations: 0 }]);
    expect((await metrics.reconciliationStepFailures.get()).values).toEqual([{ labels: { step: 'outbox' }, value: 1 }]);
    expect((await metrics.reconciliationRuns.get()).values[0]?.value ?? 0).toBe(0);
    expect(env.logs.lines.some((l) => l.includes('"step":"outbox"') && l.includes('reconciliation step failed'))).toBe(true);
  } finally {
    await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() WHERE aggregate_id = 'unreachable'`;
    await env.db.$executeRaw`UPDATE credit_wallets SET balance = balance - 5 WHERE shop_id = ${off.id}::uuid`;
  }
  await expect(pass()).resolves.toMatchObject({ ledgerMismatches: [] });
});

it('a poison outbox row (its payload fails the job schema) no longer fails the outbox step: it is recorded for a retry and the rows behind it are published', async () => {
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() WHERE published_at IS NULL`;
  const [poison] = await env.db.$queryRaw<{ id: bigint }[]>`INSERT INTO outbox_events (event_type, aggregate_id, payload, available_at, created_at)
    VALUES ('contacts.import.v1', 'poison', '{"importId": "not-a-uuid", "shopId": "nor-this"}'::jsonb, ${ago(120_000)}, ${ago(120_000)}) RETURNING id`;
  const [behind] = await env.db.$queryRaw<{ id: bigint }[]>`INSERT INTO outbox_events (event_type, aggregate_id, payload, available_at, created_at)
    VALUES ('keyword.reply.v1', 'behind', '{"replyId": "987654"}'::jsonb, ${ago(60_000)}, ${ago(60_000)}) RETURNING id`;
  const metrics = createMetrics();
  try {
    const report = await runReconciliation({ ...deps, metrics });
    expect(report.repairs.outbox_published).toBe(1);
    expect(await deps.queues.get(JOB_QUEUE['keyword.reply.v1']).getJob(jobIds.keywordReply('987654'))).toBeDefined();
    const rows = await env.db.$queryRaw<{ id: bigint; attempts: number; published: boolean; dead: boolean; last_error: string | null }[]>`
      SELECT id, attempts, published_at IS NOT NULL AS published, dead_at IS NOT NULL AS dead, last_error FROM outbox_events WHERE id IN (${poison!.id}, ${behind!.id}) ORDER BY id`;
    expect(rows).toEqual([
      { id: poison!.id, attempts: 1, published: false, dead: false, last_error: expect.stringMatching(/^ZodError: importId: /) },
      { id: behind!.id, attempts: 1, published: true, dead: false, last_error: null },
    ]);
    expect((await metrics.reconciliationStepFailures.get()).values).toEqual([]);
    expect((await metrics.outboxPublishFailures.get()).values).toEqual([{ labels: { reason: 'schema' }, value: 1 }]);
    expect((await metrics.reconciliationRuns.get()).values[0]?.value).toBe(1);
  } finally {
    await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() WHERE aggregate_id = 'poison'`;
  }
});
