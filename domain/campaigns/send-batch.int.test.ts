import request from 'supertest';
import { createCampaign, createContact, createContactsBulk, createShop, grantCredits } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import {
  batchSentCounts,
  campaignStatus,
  disableQuietHours,
  moneyState,
  queuedCampaign,
  recipientCounts,
  sentSegments,
  simulatorProvider,
  startSimulator,
  waitFor,
} from '../../test/sending';
import type { MittoProvider } from '../messaging/providers';
import { randomUUID } from 'node:crypto';
import type { Tx } from '../../lib/db';
import { ProviderUnavailableError, type OutboundMessage, type SendResult, type SmsProvider } from '../messaging/providers/provider';
import { sessionToken } from '../../test/session-token';
import { claimIdempotencyKey } from '../idempotency/claim-key';
import { fencedGuard, UNGUARDED } from '../idempotency/guard';
import { campaignStats } from './campaign-stats';
import { cancelCampaign } from './cancel-campaign';
import { enqueueCampaign } from './enqueue-campaign';
import { previewCampaign } from './preview-campaign';
import { launchCampaign } from './launch-campaign';
import { sendBatch, type SendBatchDeps } from './send-batch';
import { settleBatch } from './settle-batch';

describe('sendBatch', () => {
  let env: TestEnv;
  let worker: ReturnType<TestEnv['workerDeps']>;
  let sim: Awaited<ReturnType<typeof startSimulator>>['sim'];
  let url: string;
  const providers: MittoProvider[] = [];
  const provider = (o: Parameters<typeof simulatorProvider>[1] = {}): MittoProvider => {
    const p = simulatorProvider(url, o);
    providers.push(p);
    return p;
  };

  beforeAll(async () => {
    env = await createTestEnv();
    worker = env.workerDeps();
    ({ sim, url } = await startSimulator());
  });
  afterAll(async () => {
    await env.close();
    for (const p of providers) p.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  /** A launched campaign (recipients materialised, batches of `batchSize`). */
  async function launched(contacts: number, o: { batchSize?: number; credits?: number; timezone?: string; quiet?: boolean } = {}) {
    const shop = await createShop(env.db, { credits: o.credits ?? 10_000, timezone: o.timezone });
    if (!o.quiet) await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, contacts);
    const campaign = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2 });
    const job = { campaignId: campaign.id, shopId: shop.id, traceId: `trace-${campaign.id}` };
    const r = await launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(), batchSize: o.batchSize ?? 100 }, job);
    expect(r.outcome).toBe('launched');
    return { shopId: shop.id, campaignId: campaign.id, job, reserved: campaign.reserved };
  }

  const sendDeps = (p: SmsProvider, o: Partial<SendBatchDeps> = {}): SendBatchDeps => ({ db: env.db, provider: p, now: () => new Date(), leaseMs: 60_000, phoneHashKey: env.config.PHONE_HASH_KEY, quietHoursFloor: env.config.SMS_QUIET_HOURS_FLOOR, ...o });

  async function batchClaim(campaignId: string, batchNo: number): Promise<{ claimed: boolean; attempt: number; leaseUntil: Date | null }> {
    const [b] = await env.db.$queryRaw<{ claim_token: string | null; attempt: number; lease_until: Date | null }[]>`
      SELECT claim_token, attempt, lease_until FROM campaign_batches WHERE campaign_id = ${campaignId}::uuid AND batch_no = ${batchNo}::int`;
    return { claimed: b!.claim_token !== null, attempt: Number(b!.attempt), leaseUntil: b!.lease_until };
  }

  async function expectBooksBalance(shopId: string): Promise<void> {
    const m = await moneyState(env.db, shopId);
    expect(m.ledgerSum).toBe(m.balance);
    expect(m.reserved).toBe(m.activeRemaining);
  }

  it('a worker that dies between the provider call and the settle: after the lease the batch is re-sent with the same references, sent once, charged once', async () => {
    const { shopId, campaignId, job } = await launched(100);
    const p = provider();
    const crash = sendBatch(sendDeps(p, { afterProviderCall: () => { throw new Error('worker died'); } }), { ...job, batchNo: 0 });
    await expect(crash).rejects.toThrow('worker died');
    // The claim is the batch's: its rows wait, untouched, under a live lease.
    expect(await recipientCounts(env.db, campaignId)).toEqual({ pending: 100 });
    expect(await batchClaim(campaignId, 0)).toMatchObject({ claimed: true, attempt: 1 });
    // Reported as what they are: in flight.
    expect(await campaignStats(env.db, shopId, campaignId)).toMatchObject({ total: 100, pending: 0, sending: 100 });
    expect(sim.stats().messagesAccepted).toBe(100);
    expect((await moneyState(env.db, shopId)).debited).toBe(0);

    // A retry inside the lease touches nothing and waits for the lease to run out.
    const early = await sendBatch(sendDeps(p), { ...job, batchNo: 0 });
    expect(early).toMatchObject({ outcome: 'deferred', reason: 'leased' });
    expect(sim.stats().requests).toBe(1);

    const later = new Date(Date.now() + 61_000);
    const retry = await sendBatch(sendDeps(p, { now: () => later }), { ...job, batchNo: 0 });
    expect(retry).toMatchObject({ outcome: 'done', batchDone: true, campaignCompleted: true, settle: { sent: 100, segments: 100, debited: 100 } });
    expect(sim.stats()).toEqual({ requests: 2, messagesAccepted: 100, uniqueReferences: 100, duplicatesSuppressed: 100, duplicatesSent: 0 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 100 });
    // The takeover's settle counted them once, as the list reads them.
    expect(await batchSentCounts(env.db, campaignId)).toEqual({ counters: 100, rows: 100, batchesOff: 0 });
    const m = await moneyState(env.db, shopId);
    expect(m.debited).toBe(100);
    expect(m.reserved).toBe(0);
    await expectBooksBalance(shopId);
    const [attempts] = await env.db.$queryRaw<{ max: number }[]>`SELECT max(attempt) AS max FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid`;
    expect(Number(attempts!.max)).toBe(2);
  });

  it("moves each contact's send slot in place: a second campaign to the same contacts adds no page and no index entry to the slots", async () => {
    const size = async () => {
      const [r] = await env.db.$queryRaw<{ heap: bigint; indexes: bigint }[]>`
        SELECT pg_relation_size('contact_send_slots') AS heap, pg_indexes_size('contact_send_slots') AS indexes`;
      return r!;
    };
    const first = await launched(1_000, { batchSize: 500 });
    // Smart sending off: the second campaign sends to every contact, and still takes each slot.
    await env.db.$executeRaw`UPDATE shops SET smart_sending_enabled = false WHERE id = ${first.shopId}::uuid`;
    const p = provider();
    for (const batchNo of [0, 1]) expect(await sendBatch(sendDeps(p), { ...first.job, batchNo })).toMatchObject({ outcome: 'done', settle: { sent: 500 } });
    const [slots] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM contact_send_slots WHERE shop_id = ${first.shopId}::uuid AND campaign_id = ${first.campaignId}::uuid`;
    expect(slots!.n).toBe(1_000);
    const afterFirst = await size();

    const second = await queuedCampaign(env.db, first.shopId, { segmentsPerMessage: 1 });
    const job = { campaignId: second.id, shopId: first.shopId, traceId: `trace-${second.id}` };
    expect((await launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(), batchSize: 500 }, job)).outcome).toBe('launched');
    for (const batchNo of [0, 1]) expect(await sendBatch(sendDeps(p), { ...job, batchNo })).toMatchObject({ outcome: 'done', settle: { sent: 500 } });
    const [moved] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM contact_send_slots WHERE shop_id = ${first.shopId}::uuid AND campaign_id = ${second.id}::uuid AND prev_at IS NOT NULL`;
    expect(moved!.n).toBe(1_000);
    // Every slot's new version found room on its own page (fillfactor 45):
    // a heap-only update, no new page and no new primary-key entry.
    expect(await size()).toEqual(afterFirst);
  });

  it('a batch whose contacts partly have a slot: the ones with a slot are moved, the others get one, each once', async () => {
    const first = await launched(400, { batchSize: 400 });
    await env.db.$executeRaw`UPDATE shops SET smart_sending_enabled = false WHERE id = ${first.shopId}::uuid`;
    const p = provider();
    expect(await sendBatch(sendDeps(p), { ...first.job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 400 } });
    // A quarter of the contacts as if new since: no slot.
    await env.db.$executeRaw`
      DELETE FROM contact_send_slots WHERE contact_id IN (
        SELECT contact_id FROM contact_send_slots WHERE shop_id = ${first.shopId}::uuid ORDER BY contact_id LIMIT 100)`;
    const second = await queuedCampaign(env.db, first.shopId, { segmentsPerMessage: 1 });
    const job = { campaignId: second.id, shopId: first.shopId, traceId: `trace-${second.id}` };
    expect((await launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(), batchSize: 400 }, job)).outcome).toBe('launched');
    expect(await sendBatch(sendDeps(p), { ...job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 400, failed: 0 } });
    const slots = await env.db.$queryRaw<{ moved: boolean; n: number }[]>`
      SELECT prev_at IS NOT NULL AS moved, count(*)::int AS n FROM contact_send_slots
       WHERE shop_id = ${first.shopId}::uuid AND campaign_id = ${second.id}::uuid GROUP BY 1 ORDER BY 1`;
    expect(slots).toEqual([{ moved: false, n: 100 }, { moved: true, n: 300 }]);
    // Nothing given back: every slot was taken for a message that went out.
    expect(await recipientCounts(env.db, second.id)).toEqual({ sent: 400 });
  });

  it('to a provider that cannot dedup, a stale claim becomes unknown: never re-sent, never charged, reservation released at completion', async () => {
    const { shopId, campaignId, job, reserved } = await launched(50);
    const p = provider({ dedupsByReference: false });
    await expect(sendBatch(sendDeps(p, { afterProviderCall: () => { throw new Error('crash'); } }), { ...job, batchNo: 0 })).rejects.toThrow('crash');
    const later = new Date(Date.now() + 61_000);
    const retry = await sendBatch(sendDeps(p, { now: () => later }), { ...job, batchNo: 0 });
    expect(retry).toMatchObject({ outcome: 'done', claimed: 50, campaignCompleted: true, settle: { unknown: 50, sent: 0, debited: 0 } });
    expect(sim.stats().requests).toBe(1);
    expect(await recipientCounts(env.db, campaignId)).toEqual({ unknown: 50 });
    expect(await batchSentCounts(env.db, campaignId)).toEqual({ counters: 0, rows: 0, batchesOff: 0 });
    const m = await moneyState(env.db, shopId);
    expect(m).toMatchObject({ debited: 0, reserved: 0, activeRemaining: 0 });
    const [r] = await env.db.$queryRaw<{ released: bigint }[]>`SELECT released FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid`;
    expect(Number(r!.released)).toBe(reserved);
  });

  it('writes each recipient row once more, in place: sending a launched campaign adds no page and no index entry', async () => {
    const size = async () => {
      const [r] = await env.db.$queryRaw<{ heap: bigint; indexes: bigint }[]>`
        SELECT pg_relation_size('campaign_recipients') AS heap, pg_indexes_size('campaign_recipients') AS indexes`;
      return r!;
    };
    const { campaignId, job } = await launched(1_000, { batchSize: 500 });
    const launchedSize = await size();
    const p = provider();
    for (const batchNo of [0, 1]) expect(await sendBatch(sendDeps(p), { ...job, batchNo })).toMatchObject({ outcome: 'done', settle: { sent: 500 } });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 1_000 });
    // The claim wrote the batch row only; each settle wrote its rows' new
    // versions on their own pages (room the fillfactor kept), as heap-only
    // updates that need no index entry.
    expect(await size()).toEqual(launchedSize);
  });

  it('a crash between the claim and the provider call: after the lease the takeover sends each message once', async () => {
    const { shopId, campaignId, job } = await launched(20);
    const p = provider();
    const dead: SmsProvider = { name: 'dead', dedupsByReference: true, maxBatchSize: 1000, sendBatch: () => Promise.reject(new Error('SIGKILL before the request')) };
    await expect(sendBatch(sendDeps(dead), { ...job, batchNo: 0 })).rejects.toThrow('SIGKILL');
    expect(await batchClaim(campaignId, 0)).toMatchObject({ claimed: true, attempt: 1 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ pending: 20 });
    const later = new Date(Date.now() + 61_000);
    expect(await sendBatch(sendDeps(p, { now: () => later }), { ...job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 20, debited: 20 } });
    expect(sim.stats()).toMatchObject({ messagesAccepted: 20, uniqueReferences: 20 });
    expect(await batchClaim(campaignId, 0)).toMatchObject({ claimed: false, attempt: 2 });
    expect((await moneyState(env.db, shopId)).debited).toBe(20);
    await expectBooksBalance(shopId);
  });

  it('a provider 5xx on a takeover gives the attempt back but keeps the batch in flight: a cancel leaves its rows to be re-sent, not cancelled', async () => {
    const { shopId, campaignId, job } = await launched(10);
    const p = provider();
    await expect(sendBatch(sendDeps(p, { afterProviderCall: () => { throw new Error('worker died'); } }), { ...job, batchNo: 0 })).rejects.toThrow('worker died');
    const later = new Date(Date.now() + 61_000);
    const down: SmsProvider = { name: 'down', dedupsByReference: true, maxBatchSize: 1000, sendBatch: () => Promise.reject(new ProviderUnavailableError('down', 'HTTP 503', 503)) };
    await expect(sendBatch(sendDeps(down, { now: () => later }), { ...job, batchNo: 0 })).rejects.toThrow('HTTP 503');
    const claim = await batchClaim(campaignId, 0);
    expect(claim).toMatchObject({ claimed: true, attempt: 1 });
    expect(claim.leaseUntil!.getTime()).toBeLessThanOrEqual(later.getTime());

    // The first attempt's messages may be out there: the cancel keeps them in flight, and their credits.
    const cancel = await cancelCampaign(env.db, { shopId, campaignId, guard: UNGUARDED, now: later });
    expect(cancel.kept).toBe(20);
    expect(await recipientCounts(env.db, campaignId)).toEqual({ pending: 10 });
    expect(await sendBatch(sendDeps(p, { now: () => later }), { ...job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 10 }, campaignCompleted: false });
    expect(sim.stats()).toMatchObject({ messagesAccepted: 10, duplicatesSuppressed: 10 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 10 });
    expect(await moneyState(env.db, shopId)).toMatchObject({ debited: 10, reserved: 0, activeRemaining: 0 });
    await expectBooksBalance(shopId);
  });

  it('an unknown outcome from a deduplicating provider leaves the row sending with a run-out claim of its own: re-sent even after a cancel', async () => {
    const { shopId, campaignId, job } = await launched(3);
    const p = provider();
    let first = true;
    // The first call reaches the simulator but reports one message as unknown (an unreadable item).
    const flaky: SmsProvider = {
      name: 'flaky',
      dedupsByReference: true,
      maxBatchSize: 1000,
      sendBatch: async (messages, ctx) => {
        const results = await p.sendBatch(messages, ctx);
        if (!first) return results;
        first = false;
        return results.map((r, i) => (i === 0 ? { reference: r.reference, outcome: 'unknown' as const, reason: 'unreadable_item' } : r));
      },
    };
    expect(await sendBatch(sendDeps(flaky), { ...job, batchNo: 0 })).toMatchObject({ outcome: 'retry', settle: { sent: 2, resend: 1 } });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 2, sending: 1 });
    expect(await batchSentCounts(env.db, campaignId)).toEqual({ counters: 2, rows: 2, batchesOff: 0 });
    expect(await batchClaim(campaignId, 0)).toMatchObject({ claimed: false });
    await cancelCampaign(env.db, { shopId, campaignId, guard: UNGUARDED, now: new Date() });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 2, sending: 1 });
    expect(await sendBatch(sendDeps(flaky), { ...job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 1 }, campaignCompleted: false });
    expect(sim.stats()).toMatchObject({ messagesAccepted: 3, duplicatesSuppressed: 1 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 3 });
    expect(await batchSentCounts(env.db, campaignId)).toEqual({ counters: 3, rows: 3, batchesOff: 0 });
    expect(await moneyState(env.db, shopId)).toMatchObject({ debited: 3, reserved: 0, activeRemaining: 0 });
    await expectBooksBalance(shopId);
  });

  it('a cancel larger than its bound: the rows past it are cancelled by their batches\' jobs, nothing is sent, the reservation is released at once', async () => {
    const { shopId, campaignId, job, reserved } = await launched(30, { batchSize: 10 });
    const p = provider();
    const cancel = await cancelCampaign(env.db, { shopId, campaignId, guard: UNGUARDED, now: new Date(), cancelNowRows: 12 });
    // Batch 0 and two rows of batch 1 now; nothing is in flight, so no credit is kept.
    expect(cancel).toMatchObject({ released: reserved, kept: 0 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ cancelled: 12, pending: 18 });
    expect(await moneyState(env.db, shopId)).toMatchObject({ reserved: 0, activeRemaining: 0 });
    for (const batchNo of [0, 1, 2]) expect(await sendBatch(sendDeps(p), { ...job, batchNo })).toMatchObject({ outcome: 'done', claimed: 0 });
    expect(sim.stats()).toMatchObject({ messagesAccepted: 0 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ cancelled: 30 });
    const open = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM campaign_batches WHERE campaign_id = ${campaignId}::uuid AND status = 'pending'`;
    expect(open[0]!.n).toBe(0);
    expect(await campaignStatus(env.db, campaignId)).toBe('cancelled');
    await expectBooksBalance(shopId);
  });

  describe('claim and cancel serialise on the batch row', () => {
    /** Runs `fn` in a transaction that stays open until the returned `commit` is called. */
    async function openTransaction(fn: (tx: Tx) => Promise<void>): Promise<{ commit: () => Promise<void> }> {
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      let ready!: () => void;
      const started = new Promise<void>((r) => { ready = r; });
      const done = env.db.$transaction(async (tx) => {
        await fn(tx);
        ready();
        await gate;
      }, { timeout: 20_000 });
      await started;
      return { commit: async () => { release(); await done; } };
    }
    async function blockedOnALock(): Promise<void> {
      await waitFor('a statement waiting on a row lock', async () => {
        const [r] = await env.db.$queryRaw<{ n: bigint }[]>`
          SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        return Number(r!.n) > 0;
      });
    }

    it('a cancel waits for a claim in progress and leaves the claimed batch in flight', async () => {
      const { shopId, campaignId } = await launched(4, { batchSize: 2 });
      // A claim between its batch lock and its commit.
      const claim = await openTransaction(async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM campaign_batches WHERE campaign_id = ${campaignId}::uuid AND batch_no = 0 FOR UPDATE`;
        await tx.$executeRaw`UPDATE campaign_batches SET claim_token = ${randomUUID()}::uuid, lease_until = now() + interval '1 minute', attempt = 1
                              WHERE campaign_id = ${campaignId}::uuid AND batch_no = 0`;
      });
      const cancel = cancelCampaign(env.db, { shopId, campaignId, guard: UNGUARDED, now: new Date() });
      await blockedOnALock();
      await claim.commit();
      expect((await cancel).kept).toBe(4);
      expect(await recipientCounts(env.db, campaignId)).toEqual({ pending: 2, cancelled: 2 });
    });

    it('a claim waits for a cancel in progress and then claims nothing', async () => {
      const { campaignId, job } = await launched(4, { batchSize: 2 });
      // A cancel between its batch locks and its commit.
      const cancel = await openTransaction(async (tx) => {
        await tx.$executeRaw`UPDATE campaigns SET status = 'cancelled', cancelled_at = now() WHERE id = ${campaignId}::uuid`;
        await tx.$queryRaw`SELECT 1 FROM campaign_batches WHERE campaign_id = ${campaignId}::uuid FOR UPDATE`;
        await tx.$executeRaw`UPDATE campaign_recipients SET status = 'cancelled', final_at = now() WHERE campaign_id = ${campaignId}::uuid AND status = 'pending'`;
      });
      // The job read the campaign as sending before the cancel committed.
      const p = provider();
      const send = sendBatch(sendDeps(p), { ...job, batchNo: 0 });
      await blockedOnALock();
      await cancel.commit();
      expect(await send).toMatchObject({ outcome: 'done', claimed: 0 });
      expect(sim.stats().requests).toBe(0);
      expect(await batchClaim(campaignId, 0)).toMatchObject({ claimed: false, attempt: 0 });
    });
  });

  it('a late or duplicate settle changes nothing, and statuses never move backwards', async () => {
    const { shopId, campaignId, job } = await launched(10);
    let captured: SendResult[] = [];
    const p = provider();
    await sendBatch(sendDeps(p, { afterProviderCall: (r) => { captured = r; } }), { ...job, batchNo: 0 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 10 });
    const before = await moneyState(env.db, shopId);
    // The claim's token, as its debit key recorded it.
    const [row] = await env.db.$queryRaw<{ token: string }[]>`
      SELECT right(idempotency_key, 36) AS token FROM credit_transactions
       WHERE shop_id = ${shopId}::uuid AND idempotency_key LIKE ${`debit-${campaignId}-0-%`}`;
    expect(row!.token).toMatch(/^[0-9a-f-]{36}$/);
    const outcomes = captured.map((r) => ({ id: r.reference.slice(1), kind: 'sent' as const, providerMessageId: r.outcome === 'accepted' ? r.providerMessageId : 'x', segments: 1 }));
    const replay = await settleBatch(env.db, { campaignId, shopId, batchNo: 0, token: row!.token, outcomes, now: new Date(), maxAttempts: 5 });
    expect(replay).toMatchObject({ sent: 0, segments: 0, debited: 0 });
    // A zombie with a stale token trying to fail them changes nothing either.
    const zombie = await settleBatch(env.db, {
      campaignId, shopId, batchNo: 0, token: '00000000-0000-4000-8000-000000000000',
      outcomes: outcomes.map((o) => ({ id: o.id, kind: 'failed' as const, code: 'late' })), now: new Date(), maxAttempts: 5,
    });
    expect(zombie).toMatchObject({ sent: 0, failed: 0 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 10 });
    expect(await batchSentCounts(env.db, campaignId)).toEqual({ counters: 10, rows: 10, batchesOff: 0 });
    expect(await moneyState(env.db, shopId)).toEqual(before);
    // The database refuses a backwards move whatever the code does.
    await expect(env.db.$executeRaw`UPDATE campaign_recipients SET status = 'pending' WHERE campaign_id = ${campaignId}::uuid`).rejects.toThrow(/may not move from sent to pending/);
    // A duplicate job for a finished batch (here: of a completed campaign) does nothing at all.
    const dup = await sendBatch(sendDeps(p), { ...job, batchNo: 0 });
    expect(dup).toEqual({ outcome: 'ignored', reason: 'campaign_completed' });
    expect(sim.stats().requests).toBe(1);
  });

  it('skips contacts who opted out, unsubscribed or were erased since launch, and fails undeliverable numbers, charging neither', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    const ok = await createContact(env.db, shop.id, { firstName: 'Ok' });
    const stop = await createContact(env.db, shop.id);
    const unsub = await createContact(env.db, shop.id);
    const erased = await createContact(env.db, shop.id);
    // Valid E.164 for the database, too short for the provider (invalid receiver).
    await createContact(env.db, shop.id, { phone: '+1234567' });
    const campaign = await queuedCampaign(env.db, shop.id);
    const job = { campaignId: campaign.id, shopId: shop.id, traceId: 't-skip' };
    await launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(), batchSize: 100 }, job);
    await env.db.$executeRaw`UPDATE contacts SET opted_out_at = now(), opt_out_source = 'keyword' WHERE id = ${stop.id}::uuid`;
    await env.db.$executeRaw`UPDATE contacts SET sms_consent = 'unsubscribed' WHERE id = ${unsub.id}::uuid`;
    await env.db.$executeRaw`UPDATE contacts SET erased_at = now(), phone_e164 = NULL, first_name = NULL, last_name = NULL WHERE id = ${erased.id}::uuid`;

    const r = await sendBatch(sendDeps(provider()), { ...job, batchNo: 0 });
    expect(r).toMatchObject({ outcome: 'done', claimed: 5, skipped: 3, campaignCompleted: true, settle: { sent: 1, failed: 1, debited: 1 } });
    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 1, skipped: 3, failed: 1 });
    expect(sim.stats().messagesAccepted).toBe(1);
    const [sent] = await env.db.$queryRaw<{ contact_id: string }[]>`SELECT contact_id FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid AND status = 'sent'`;
    expect(sent!.contact_id).toBe(ok.id);
    const [failed] = await env.db.$queryRaw<{ error_code: string }[]>`SELECT error_code FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid AND status = 'failed'`;
    expect(failed!.error_code).toBe('invalid_receiver');
    expect((await moneyState(env.db, shop.id)).debited).toBe(1);
    await expectBooksBalance(shop.id);
  });

  it('cancel while a batch is in flight: the in-flight messages are settled and charged, nothing else is sent, the reservation closes', async () => {
    const { shopId, campaignId, job } = await launched(300);
    const p = provider();
    let cancel: Awaited<ReturnType<typeof cancelCampaign>> | undefined;
    const inFlight = await sendBatch(
      sendDeps(p, {
        afterProviderCall: async () => {
          cancel = await cancelCampaign(env.db, { shopId, campaignId, guard: UNGUARDED, now: new Date() });
        },
      }),
      { ...job, batchNo: 0 },
    );
    expect(cancel?.campaign.status).toBe('cancelled');
    expect(inFlight).toMatchObject({ outcome: 'done', settle: { sent: 100, debited: 100 }, campaignCompleted: false });
    // Later batches claim nothing after the cancel returned.
    for (const batchNo of [1, 2]) expect(await sendBatch(sendDeps(p), { ...job, batchNo })).toMatchObject({ outcome: 'done', claimed: 0 });
    expect(sim.stats().messagesAccepted).toBe(100);
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 100, cancelled: 200 });
    expect(await campaignStatus(env.db, campaignId)).toBe('cancelled');
    const m = await moneyState(env.db, shopId);
    expect(m.debited).toBe(await sentSegments(env.db, campaignId));
    expect(m).toMatchObject({ reserved: 0, activeRemaining: 0 });
    await expectBooksBalance(shopId);
  });

  it('cancel while a batch is in flight and its provider call fails (5xx): the retry sends nothing and cancels the rows the failure gave back', async () => {
    const { shopId, campaignId, job } = await launched(10);
    const down: SmsProvider = {
      name: 'down',
      dedupsByReference: true,
      maxBatchSize: 1000,
      sendBatch: async () => {
        await cancelCampaign(env.db, { shopId, campaignId, guard: UNGUARDED, now: new Date() });
        throw new ProviderUnavailableError('down', 'HTTP 503', 503);
      },
    };
    await expect(sendBatch(sendDeps(down), { ...job, batchNo: 0 })).rejects.toThrow('HTTP 503');
    // Certainly not sent, and the campaign is cancelled: the job's retry closes them instead of leaving them pending for ever.
    expect(await recipientCounts(env.db, campaignId)).toEqual({ pending: 10 });
    const p = provider();
    expect(await sendBatch(sendDeps(p), { ...job, batchNo: 0 })).toMatchObject({ outcome: 'done', claimed: 0 });
    expect(sim.stats().messagesAccepted).toBe(0);
    expect(await recipientCounts(env.db, campaignId)).toEqual({ cancelled: 10 });
    expect(await moneyState(env.db, shopId)).toMatchObject({ debited: 0, reserved: 0, activeRemaining: 0 });
    await expectBooksBalance(shopId);
  });

  it('a batch whose recipients are all inside their quiet hours is deferred to their end without claiming anything', async () => {
    const { campaignId, job } = await launched(20);
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '21:00', quiet_hours_end = '08:00' WHERE id = ${job.shopId}::uuid`;
    // The window is the recipient's: these contacts live in Berlin.
    await env.db.$executeRaw`UPDATE contacts SET timezone = 'Europe/Berlin' WHERE shop_id = ${job.shopId}::uuid`;
    // 21:30Z on 2026-03-28 is 22:30 CET; the window ends 08:00 CEST (06:00Z) after the clocks go forward.
    const r = await sendBatch(sendDeps(provider(), { now: () => new Date('2026-03-28T21:30:00Z') }), { ...job, batchNo: 0 });
    expect(r).toEqual({ outcome: 'deferred', until: new Date('2026-03-29T06:00:00Z'), reason: 'quiet_hours', deferred: 20 });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ pending: 20 });
    expect(sim.stats().requests).toBe(0);
    const after = await sendBatch(sendDeps(provider(), { now: () => new Date('2026-03-29T06:00:00Z') }), { ...job, batchNo: 0 });
    expect(after).toMatchObject({ outcome: 'done', settle: { sent: 20 } });
  });

  it('transient per-message rejections go back to pending and fail once attempts run out; certain failures are never charged', async () => {
    const { shopId, campaignId, job } = await launched(4);
    // A provider fake at the adapter interface: rejects every message as transient.
    const calls: OutboundMessage[][] = [];
    const flaky: SmsProvider = {
      name: 'flaky',
      dedupsByReference: true,
      maxBatchSize: 1000,
      sendBatch: async (messages) => {
        calls.push(messages);
        return messages.map((m) => ({ reference: m.reference, outcome: 'rejected', code: 'internal_error', permanent: false }));
      },
    };
    for (let attempt = 1; attempt <= 2; attempt++) {
      const r = await sendBatch(sendDeps(flaky, { maxAttempts: 2 }), { ...job, batchNo: 0 });
      expect(r.outcome).toBe(attempt < 2 ? 'retry' : 'done');
    }
    expect(calls).toHaveLength(2);
    expect(calls[0]!.map((m) => m.reference)).toEqual(calls[1]!.map((m) => m.reference));
    expect(await recipientCounts(env.db, campaignId)).toEqual({ failed: 4 });
    expect(await campaignStatus(env.db, campaignId)).toBe('completed');
    expect((await moneyState(env.db, shopId)).debited).toBe(0);
    await expectBooksBalance(shopId);
  });

  it('charges what the reservation no longer covers to the balance, and never more than the wallet holds', async () => {
    const { shopId, campaignId, job } = await launched(10, { credits: 25 });
    // The reservation (20) is gone (say, released by an operator); 5 credits remain available.
    await env.db.$transaction(async (tx) => {
      const { activeReservationForCampaign, releaseReservation } = await import('../credits/reservations');
      const r = await activeReservationForCampaign(tx, campaignId);
      await releaseReservation(tx, r!.id);
    });
    await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 20 WHERE shop_id = ${shopId}::uuid`;
    await env.db.$executeRaw`INSERT INTO credit_reservations (shop_id, reservation_key, amount) VALUES (${shopId}::uuid, 'other-hold', 20)`;
    const r = await sendBatch(sendDeps(provider()), { ...job, batchNo: 0 });
    // All 10 went out and are recorded; 5 could be charged.
    expect(r).toMatchObject({ outcome: 'done', settle: { sent: 10, segments: 10, debited: 5, fromReservation: 0, shortfall: 5 } });
    expect(await recipientCounts(env.db, campaignId)).toEqual({ sent: 10 });
    await expectBooksBalance(shopId);
    expect((await moneyState(env.db, shopId)).balance).toBe(20);
  });
  // segments_per_message, and the reservation sized with it, bound every
  // recipient's message: what the render adds besides the body (the shop's
  // name, the opt-out footer) is frozen at enqueue.
  it.each([
    ['the opt-out footer switched on', 'A'.repeat(150)],
    ['the shop renamed to a longer name', `${'A'.repeat(150)} {{shopName}}`],
  ])('%s after enqueue: no message is sent longer than its reservation; credits debited = segments sent', async (change, body) => {
    const shop = await createShop(env.db, { credits: 3, optOutFooter: false });
    await env.db.$executeRaw`UPDATE shops SET name = 'Acme' WHERE id = ${shop.id}::uuid`;
    await disableQuietHours(env.db, shop.id);
    for (let i = 0; i < 3; i++) await createContact(env.db, shop.id);
    const campaign = await createCampaign(env.db, shop.id, { body });
    const key = await claimIdempotencyKey(env.db, { shopId: shop.id, method: 'POST', route: '/api/campaigns/:id/enqueue', key: randomUUID() }, { fingerprint: 'fp', leaseMs: 60_000, abandonedTtlMs: 60_000 });
    if (key.kind !== 'claimed') throw new Error('no key');
    const out = await enqueueCampaign(worker, { shopId: shop.id, campaignId: campaign.id, guard: fencedGuard(key, { leaseMs: 60_000, completedTtlMs: 3_600_000 }), traceId: 't', now: new Date(), responseStatus: 202 });
    expect(out.result).toMatchObject({ recipients: 3, creditsReserved: 3 });
    const perMessage = async (id: string): Promise<number | null> =>
      (await env.db.$queryRaw<{ per: number | null }[]>`SELECT segments_per_message AS per FROM campaigns WHERE id = ${id}::uuid`)[0]!.per;
    expect(await perMessage(campaign.id)).toBe(1);
    if (change.includes('footer')) {
      const { app } = await env.api();
      const patched = await request(app).patch('/api/shop').set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send({ optOutFooter: true });
      expect(patched.status).toBe(200);
    } else {
      await env.db.$executeRaw`UPDATE shops SET name = 'Acme Outdoor Supply Company' WHERE id = ${shop.id}::uuid`;
    }
    // The preview of the enqueued campaign shows what will go out, and its count.
    expect(await previewCampaign(env.db, { shopId: shop.id, campaignId: campaign.id, sendTiming: false })).toMatchObject({ segments: 1, credits: 3 });
    const job = { campaignId: campaign.id, shopId: shop.id, traceId: 't' };
    expect((await launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(), batchSize: 100 }, job)).outcome).toBe('launched');
    const p = provider();
    await sendBatch(sendDeps(p, { quietHoursFloor: false }), { ...job, batchNo: 0 });
    expect(await recipientCounts(env.db, campaign.id)).toEqual({ sent: 3 });
    const [longest] = await env.db.$queryRaw<{ max: number | null }[]>`SELECT max(segments)::int AS max FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid AND status = 'sent'`;
    expect(longest!.max).toBeLessThanOrEqual((await perMessage(campaign.id))!);
    expect((await moneyState(env.db, shop.id)).debited).toBe(await sentSegments(env.db, campaign.id));
    expect((await moneyState(env.db, shop.id)).debited).toBe(3);
    await expectBooksBalance(shop.id);
    // A campaign enqueued afterwards is sized and sent with the shop's new settings.
    const next = await createCampaign(env.db, shop.id, { body });
    await grantCredits(env.db, shop.id, 6);
    const key2 = await claimIdempotencyKey(env.db, { shopId: shop.id, method: 'POST', route: '/api/campaigns/:id/enqueue', key: randomUUID() }, { fingerprint: 'fp', leaseMs: 60_000, abandonedTtlMs: 60_000 });
    if (key2.kind !== 'claimed') throw new Error('no key');
    const out2 = await enqueueCampaign(worker, { shopId: shop.id, campaignId: next.id, guard: fencedGuard(key2, { leaseMs: 60_000, completedTtlMs: 3_600_000 }), traceId: 't', now: new Date(), responseStatus: 202 });
    expect(out2.result).toMatchObject({ creditsReserved: 6 });
    expect(await perMessage(next.id)).toBe(2);
  });

  it('a campaign enqueued before the render was frozen (no snapshot) renders with the shop\'s current settings, as before', async () => {
    const { shopId, campaignId, job } = await launched(2);
    await env.db.$executeRaw`UPDATE campaigns SET shop_name_at_enqueue = NULL, opt_out_footer_at_enqueue = NULL WHERE id = ${campaignId}::uuid`;
    await env.db.$executeRaw`UPDATE shops SET opt_out_footer = true WHERE id = ${shopId}::uuid`;
    const sent: OutboundMessage[] = [];
    const inner = provider();
    const recording: SmsProvider = { name: inner.name, dedupsByReference: inner.dedupsByReference, maxBatchSize: inner.maxBatchSize, sendBatch: (m, ctx) => { sent.push(...m); return inner.sendBatch(m, ctx); } };
    await sendBatch(sendDeps(recording), { ...job, batchNo: 0 });
    expect(sent).toHaveLength(2);
    for (const m of sent) expect(m.text.endsWith('Reply STOP to opt out')).toBe(true);
  });
});
