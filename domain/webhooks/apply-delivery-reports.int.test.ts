import { createCampaign, createContact, createShop } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { rid, wallet } from '../../test/webhooks';
import { applyDeliveryReports, handOffDeliveryReports, NOT_READY_MARK, REPORT_RETRY_MS } from './apply-delivery-reports';
import { processWebhookEvent } from './process-event';
import { recordWebhookEvent } from './record-event';

describe('applyDeliveryReports (bulk)', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  // Every pass takes every open report of the database: each test starts from none.
  beforeEach(async () => {
    await env.db.$executeRaw`UPDATE webhook_events SET status = 'processed' WHERE status = 'received'`;
  });

  async function campaign() {
    const shop = await createShop(env.db, { credits: 10 });
    const c = await createCampaign(env.db, shop.id, { status: 'sending' });
    // Its rows are written here, not by a settle: the batch counts none of them as sent.
    await env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count) VALUES (${c.id}::uuid, 0, 100)`;
    const recipient = async (status: string, o: { pmid?: string | null; segments?: number | null } = {}): Promise<{ id: string; pmid: string | null }> => {
      const contact = await createContact(env.db, shop.id);
      const pmid = o.pmid === undefined ? rid('msg') : o.pmid;
      const segments = o.segments === undefined ? 1 : o.segments;
      const sending = status === 'sending';
      const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
        INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, claim_token, lease_until)
        VALUES (${c.id}::uuid, ${contact.id}::uuid, 0, ${status}, ${pmid}, ${segments}::smallint, ${sending || status === 'unknown' ? null : new Date()},
                ${sending ? '00000000-0000-4000-8000-000000000001' : null}::uuid, ${sending ? new Date(Date.now() + 60_000) : null})
        RETURNING id`;
      return { id: String(row!.id), pmid };
    };
    const batchSent = async (): Promise<number> =>
      Number((await env.db.$queryRaw<{ sent: number }[]>`SELECT sent FROM campaign_batches WHERE campaign_id = ${c.id}::uuid AND batch_no = 0`)[0]!.sent);
    return { shopId: shop.id, recipient, batchSent };
  }

  const report = async (payload: Record<string, unknown>): Promise<string> => {
    const id = await recordWebhookEvent(env.db, { provider: 'sms-simulator', eventId: rid('dlr'), topic: 'status', payload });
    return id!;
  };

  async function recipientState(id: string) {
    const [row] = await env.db.$queryRaw<{ status: string; error_code: string | null; provider_message_id: string | null; final_at: Date | null }[]>`
      SELECT status, error_code, provider_message_id, final_at FROM campaign_recipients WHERE id = ${id}::bigint`;
    return row!;
  }

  async function eventState(id: string) {
    const [row] = await env.db.$queryRaw<{ status: string; shop_id: string | null; last_error: string | null; attempts: number }[]>`
      SELECT status, shop_id, last_error, attempts FROM webhook_events WHERE id = ${id}::uuid`;
    return row!;
  }

  it('applies a mixed pass as the per-event handler would, in one transaction', async () => {
    const { shopId, recipient, batchSent } = await campaign();
    const sentA = await recipient('sent');
    const sentB = await recipient('sent');
    const unknownWithSegments = await recipient('unknown', { pmid: null, segments: 1 });
    const unknownUnbilled = await recipient('unknown', { pmid: null, segments: null });
    const inFlight = await recipient('sending', { pmid: null, segments: null });
    const alreadyFinal = await recipient('delivered');

    const ts = new Date().toISOString();
    const aDelivered = await report({ id: sentA.pmid, reference: `r${sentA.id}`, status: 'delivered', timestamp: ts });
    const aFailedLater = await report({ id: sentA.pmid, reference: `r${sentA.id}`, status: 'failed', timestamp: ts });
    const bFailed = await report({ id: sentB.pmid, status: 'failed', errorCode: 'absent_subscriber' });
    const byReference = await report({ id: 'sim-late-id', reference: `r${unknownWithSegments.id}`, status: 'delivered' });
    const unbilled = await report({ id: 'sim-unbilled', reference: `r${unknownUnbilled.id}`, status: 'delivered' });
    const early = await report({ id: 'sim-not-yet', reference: `r${inFlight.id}`, status: 'delivered' });
    const duplicate = await report({ id: alreadyFinal.pmid, status: 'failed' });

    const r = await applyDeliveryReports(env.db, { limit: 100 });

    expect(r.claimed).toBe(7);
    expect(r.applied).toEqual({ delivered: 2, failed: 1 });
    // The report that beat its send's settle waits for a later pass, with no job of its own.
    expect(r.notReady).toEqual([]);
    expect(r.waiting).toBe(1);
    expect(r.appliedByProvider).toEqual(expect.arrayContaining([{ provider: 'sms-simulator', status: 'delivered', n: 2 }, { provider: 'sms-simulator', status: 'failed', n: 1 }]));
    expect(r.outcomes).toEqual(expect.arrayContaining([{ provider: 'sms-simulator', outcome: 'processed', n: 5 }, { provider: 'sms-simulator', outcome: 'ignored', n: 1 }]));

    expect(await recipientState(sentA.id)).toMatchObject({ status: 'delivered', error_code: null });
    expect((await recipientState(sentA.id)).final_at).toBeInstanceOf(Date);
    expect(await recipientState(sentB.id)).toMatchObject({ status: 'failed', error_code: 'absent_subscriber' });
    expect(await recipientState(unknownWithSegments.id)).toMatchObject({ status: 'delivered', provider_message_id: 'sim-late-id' });
    // Proven sent by its report: charged once, for the segments its send recorded.
    expect(r.unknownResolved).toEqual({ delivered: 1, failed: 0 });
    expect(await wallet(env.db, shopId)).toEqual({ balance: 9, reserved: 0 });
    // And counted as gone out by its batch (a sent row's report changes no count).
    expect(await batchSent()).toBe(1);
    expect(await recipientState(unknownUnbilled.id)).toMatchObject({ status: 'unknown', provider_message_id: null });
    expect(await recipientState(inFlight.id)).toMatchObject({ status: 'sending' });
    expect(await recipientState(alreadyFinal.id)).toMatchObject({ status: 'delivered' });

    // The first final report of a message wins; the later one is done too.
    for (const id of [aDelivered, aFailedLater, bFailed, byReference, duplicate]) {
      expect(await eventState(id)).toMatchObject({ status: 'processed', shop_id: shopId, last_error: null, attempts: 1 });
    }
    expect(await eventState(unbilled)).toMatchObject({ status: 'ignored', shop_id: shopId });
    // Skipped by passes until its retry time, then tried again.
    expect(await eventState(early)).toMatchObject({ status: 'received', last_error: null, attempts: 0 });
    // Its retry time (REPORT_RETRY_MS after that pass) moved out of reach: a loaded machine may take longer than 250 ms to get here.
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = GREATEST(next_attempt_at, now() + interval '1 hour') WHERE id = ${early}::uuid AND next_attempt_at IS NOT NULL`;
    expect((await applyDeliveryReports(env.db, { limit: 100 })).claimed).toBe(0);
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = now() - interval '1 millisecond' WHERE id = ${early}::uuid`;
    expect(await applyDeliveryReports(env.db, { limit: 100 })).toMatchObject({ claimed: 1, waiting: 1, notReady: [] });
    // Past the grace it is left for its own job (retries with backoff), and skipped by later passes.
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = NULL, received_at = now() - interval '20 seconds' WHERE id = ${early}::uuid`;
    const late = await applyDeliveryReports(env.db, { limit: 100 });
    expect(late).toMatchObject({ claimed: 1, waiting: 0 });
    expect(late.notReady.map((x) => x.id)).toEqual([early]);
    expect(await eventState(early)).toMatchObject({ status: 'received', last_error: NOT_READY_MARK, attempts: 0 });
    expect((await applyDeliveryReports(env.db, { limit: 100 })).claimed).toBe(0);
  });

  it('a report that beat its send\'s settle is applied by the pass after the settle commits', async () => {
    const { recipient } = await campaign();
    const inFlight = await recipient('sending', { pmid: null, segments: null });
    const early = await report({ id: 'sim-early', reference: `r${inFlight.id}`, status: 'delivered' });
    expect(await applyDeliveryReports(env.db, { limit: 100 })).toMatchObject({ claimed: 1, waiting: 1, notReady: [] });
    // The settle commits: the row is sent, with the provider's id.
    await env.db.$executeRaw`
      UPDATE campaign_recipients SET status = 'sent', provider_message_id = 'sim-early', segments = 1, sent_at = now(), claim_token = NULL, lease_until = NULL
       WHERE id = ${inFlight.id}::bigint`;
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = now() - interval '1 millisecond' WHERE id = ${early}::uuid`;
    expect(await applyDeliveryReports(env.db, { limit: 100 })).toMatchObject({ claimed: 1, waiting: 0, notReady: [], applied: { delivered: 1, failed: 0 } });
    expect(await recipientState(inFlight.id)).toMatchObject({ status: 'delivered' });
    expect(await eventState(early)).toMatchObject({ status: 'processed', last_error: null });
  });

  it("the reports of batched callbacks that beat their sends' settles wait together: one row per callback, with its arrival time, skipped until the retry; then applied once", async () => {
    const { recipient } = await campaign();
    const ready = await recipient('sent');
    const inFlight = [await recipient('sending', { pmid: null, segments: null }), await recipient('sending', { pmid: null, segments: null }), await recipient('sending', { pmid: null, segments: null })];
    const dlr = (r: { id: string }, pmid: string) => ({ id: pmid, reference: `r${r.id}`, status: 'delivered' });
    const callback = async (reports: Record<string, unknown>[]) =>
      (await recordWebhookEvent(env.db, { provider: 'sms-simulator', eventId: rid('batch'), topic: 'status-batch', payload: { reports } }))!;
    const first = await callback([dlr(ready, ready.pmid!), dlr(inFlight[0]!, 'sim-w0'), dlr(inFlight[1]!, 'sim-w1')]);
    const second = await callback([dlr(inFlight[2]!, 'sim-w2')]);
    await env.db.$executeRaw`UPDATE webhook_events SET received_at = now() - interval '2 seconds' WHERE id = ${first}::uuid`;

    // The retry is set from the pass's own clock: compared with a time read before it, not with now() after it.
    const [{ passFrom }] = (await env.db.$queryRaw<{ passFrom: Date }[]>`SELECT clock_timestamp() AS "passFrom"`) as [{ passFrom: Date }];
    expect(await applyDeliveryReports(env.db, { limit: 1_000 })).toMatchObject({ claimed: 4, waiting: 3, notReady: [], applied: { delivered: 1, failed: 0 } });
    expect(await eventState(first)).toMatchObject({ status: 'processed' });
    expect(await eventState(second)).toMatchObject({ status: 'processed' });
    const rows = await env.db.$queryRaw<{ ids: string[]; from_first: boolean; later: boolean }[]>`
      SELECT ARRAY(SELECT r->>'id' FROM jsonb_array_elements(payload->'reports') r) AS ids,
             received_at = (SELECT received_at FROM webhook_events WHERE id = ${first}::uuid) AS from_first, next_attempt_at >= ${passFrom}::timestamptz + ${REPORT_RETRY_MS}::float8 * interval '1 millisecond' AS later
        FROM webhook_events WHERE topic = 'status-batch' AND status = 'received' ORDER BY received_at`;
    // No row per report: one per callback, each with just its waiting reports.
    expect(rows).toEqual([{ ids: ['sim-w0', 'sim-w1'], from_first: true, later: true }, { ids: ['sim-w2'], from_first: false, later: true }]);
    expect((await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM webhook_events WHERE topic = 'status' AND status = 'received'`)[0]!.n).toBe(0);
    // Before its retry a pass leaves them alone. The retry is REPORT_RETRY_MS (250 ms) away, which a loaded
    // machine can pass between two statements: pushed a minute out (`later` above saw it set).
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = now() + interval '1 minute' WHERE topic = 'status-batch' AND status = 'received'`;
    expect(await applyDeliveryReports(env.db, { limit: 1_000 })).toMatchObject({ claimed: 0, waiting: 0 });

    // Two of the settles commit; the retry comes.
    for (const [i, r] of inFlight.slice(0, 2).entries()) {
      await env.db.$executeRaw`
        UPDATE campaign_recipients SET status = 'sent', provider_message_id = ${`sim-w${i}`}, segments = 1, sent_at = now(), claim_token = NULL, lease_until = NULL
         WHERE id = ${r.id}::bigint`;
    }
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = now() - interval '1 millisecond' WHERE topic = 'status-batch' AND status = 'received'`;
    expect(await applyDeliveryReports(env.db, { limit: 1_000 })).toMatchObject({ claimed: 3, waiting: 1, applied: { delivered: 2, failed: 0 } });
    expect(await Promise.all(inFlight.map((r) => recipientState(r.id)))).toMatchObject([{ status: 'delivered' }, { status: 'delivered' }, { status: 'sending' }]);
    // The one still waiting waits on, alone; past the grace it gets a job of its own.
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = NULL, received_at = now() - interval '20 seconds' WHERE topic = 'status-batch' AND status = 'received'`;
    const late = await applyDeliveryReports(env.db, { limit: 1_000 });
    expect(late).toMatchObject({ claimed: 1, waiting: 0 });
    expect(late.notReady).toHaveLength(1);
    expect(await eventState(late.notReady[0]!.id)).toMatchObject({ status: 'received', last_error: NOT_READY_MARK });
  });

  it('finds a recipient by our reference, and only if the provider id is its own; without our reference, by provider id among recently active campaigns', async () => {
    const { shopId, recipient } = await campaign();
    const mine = await recipient('sent');
    const other = await recipient('sent');
    const unreferenced = await recipient('sent');
    const old = await campaign();
    const stale = await old.recipient('sent');
    await env.db.$executeRaw`
      UPDATE campaigns SET last_activity_at = now() - interval '73 hours'
       WHERE id = (SELECT campaign_id FROM campaign_recipients WHERE id = ${stale.id}::bigint)`;

    const byRef = await report({ id: mine.pmid, reference: `r${mine.id}`, status: 'delivered' });
    // Our reference, but another message's provider id: not this recipient's report.
    const mismatch = await report({ id: 'sim-someone-else', reference: `r${other.id}`, status: 'failed' });
    const byPmid = await report({ id: unreferenced.pmid, status: 'failed', errorCode: 'absent_subscriber' });
    const tooOld = await report({ id: stale.pmid, status: 'delivered' });

    const r = await applyDeliveryReports(env.db, { limit: 100 });
    expect(r.applied).toEqual({ delivered: 1, failed: 1 });
    expect(r.waiting).toBe(2);
    // Still no recipient for them once the grace is over: jobs of their own.
    await env.db.$executeRaw`UPDATE webhook_events SET next_attempt_at = NULL, received_at = now() - interval '20 seconds' WHERE id = ANY(${[mismatch, tooOld]}::uuid[])`;
    const again = await applyDeliveryReports(env.db, { limit: 100 });
    expect(again.notReady.map((x) => x.id).sort()).toEqual([mismatch, tooOld].sort());
    expect(await recipientState(mine.id)).toMatchObject({ status: 'delivered' });
    expect(await recipientState(other.id)).toMatchObject({ status: 'sent', provider_message_id: other.pmid });
    expect(await recipientState(unreferenced.id)).toMatchObject({ status: 'failed', error_code: 'absent_subscriber' });
    expect(await recipientState(stale.id)).toMatchObject({ status: 'sent' });
    for (const id of [byRef, byPmid]) expect(await eventState(id)).toMatchObject({ status: 'processed', shop_id: shopId });
  });

  it('takes at most `limit` reports, oldest first, and concurrent passes split them', async () => {
    const { recipient } = await campaign();
    const rows = await Promise.all(Array.from({ length: 30 }, () => recipient('sent')));
    for (const x of rows) await report({ id: x.pmid, status: 'delivered' });

    const first = await applyDeliveryReports(env.db, { limit: 10 });
    expect(first.claimed).toBe(10);
    expect((await recipientState(rows[0]!.id)).status).toBe('delivered');
    expect((await recipientState(rows[29]!.id)).status).toBe('sent');

    const [a, b] = await Promise.all([applyDeliveryReports(env.db, { limit: 15 }), applyDeliveryReports(env.db, { limit: 15 })]);
    expect(a.applied.delivered + b.applied.delivered).toBe(20);
    for (const x of rows) expect((await recipientState(x.id)).status).toBe('delivered');
  });

  it('a reference past bigint (k, r, f + 19 digits) is not ours: the pass applies the rest, and the per-report path agrees', async () => {
    const c = await campaign();
    const good = await c.recipient('sent');
    const good2 = await c.recipient('sent');
    await report({ id: good.pmid, reference: `r${good.id}`, status: 'delivered' });
    const overflowK = await report({ id: rid('msg'), reference: 'k9999999999999999999', status: 'delivered' });
    await report({ id: rid('msg'), reference: 'f9999999999999999999', status: 'delivered' });
    // Not ours by reference: matched by its provider id, as a report without our reference is.
    await report({ id: good2.pmid, reference: 'r9999999999999999999', status: 'failed' });
    const pass = await applyDeliveryReports(env.db, { limit: 100 });
    expect(pass.applied).toMatchObject({ delivered: 1, failed: 1 });
    expect(await recipientState(good.id)).toMatchObject({ status: 'delivered' });
    expect(await recipientState(good2.id)).toMatchObject({ status: 'failed' });
    // Matched by nothing yet, it waits like any report whose message is not found (then is dropped): no failure.
    expect(await eventState(overflowK)).toMatchObject({ status: 'received', last_error: null });

    // One report at a time (its own job): the same outcomes, no statement failing on the number.
    const good3 = await c.recipient('sent');
    const k = await report({ id: rid('msg'), reference: 'k9999999999999999999', status: 'delivered' });
    const r = await report({ id: good3.pmid, reference: 'r9999999999999999999', status: 'delivered' });
    await env.db.$executeRaw`UPDATE webhook_events SET status = 'processed' WHERE status = 'received' AND id <> ALL(${[k, r]}::uuid[])`;
    const deps = env.workerDeps();
    // Matched by nothing (its provider id is no message of ours): dropped on its last attempt, as the pass would.
    await expect(processWebhookEvent(deps, k, { final: true })).resolves.toBe('dropped');
    await expect(processWebhookEvent(deps, r, { final: true })).resolves.toBe('processed');
    expect(await recipientState(good3.id)).toMatchObject({ status: 'delivered' });
  });

  it('a keyword reply reported delivered then failed in one pass ends delivered, and only the applied report is processed', async () => {
    const replies: { id: string; pmid: string; events: string[] }[] = [];
    for (let i = 0; i < 40; i++) {
      const pmid = rid('kw');
      const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
        INSERT INTO keyword_replies (provider, inbound_message_id, keyword, scope, sender, to_hash, to_hmac, body, status, provider_message_id, segments, sent_at)
        VALUES ('simulator', ${rid('in')}, 'HELP', 'all', 'Marketing', 'h', 'hm', 'Help text', 'sent', ${pmid}, 1, now()) RETURNING id`;
      replies.push({ id: String(row!.id), pmid, events: [] });
    }
    for (const r of replies) {
      for (const status of ['delivered', 'failed'] as const) r.events.push(await report({ id: r.pmid, reference: `k${r.id}`, status }));
    }
    // Arrival is received_at (milliseconds): the failed ones came later, not in the same millisecond.
    await env.db.$executeRaw`UPDATE webhook_events SET received_at = received_at + interval '5 milliseconds' WHERE id = ANY(${replies.map((r) => r.events[1]!)}::uuid[])`;
    await applyDeliveryReports(env.db, { limit: 1000 });
    const rows = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM keyword_replies WHERE id = ANY(${replies.map((r) => r.id)}::bigint[])`;
    expect(rows.map((r) => r.status)).toEqual(replies.map(() => 'delivered'));
    for (const r of replies) {
      expect([(await eventState(r.events[0]!)).status, (await eventState(r.events[1]!)).status]).toEqual(['processed', 'ignored']);
    }
  });

  it('a report that is not a well-formed delivery report is left to its own job', async () => {
    const odd = await report({ id: 'x', status: 'queued' });
    const r = await applyDeliveryReports(env.db, { limit: 10 });
    expect(r.notReady.map((x) => x.id)).toEqual([odd]);
    expect(await eventState(odd)).toMatchObject({ status: 'received', last_error: NOT_READY_MARK });
  });

  it('hands the reports of a failed pass off to jobs of their own, once', async () => {
    const { recipient } = await campaign();
    const x = await recipient('sent');
    const id = await report({ id: x.pmid, status: 'delivered' });
    const handed = await handOffDeliveryReports(env.db, { limit: 10, reason: 'bulk apply failed: boom' });
    expect(handed.map((h) => h.id)).toEqual([id]);
    expect(await eventState(id)).toMatchObject({ status: 'received', last_error: 'bulk apply failed: boom' });
    expect(await handOffDeliveryReports(env.db, { limit: 10, reason: 'again' })).toEqual([]);
    expect((await applyDeliveryReports(env.db, { limit: 10 })).claimed).toBe(0);
  });
});
