import type { Express } from 'express';
import request from 'supertest';
import { processWebhookEvent } from '../../../../domain/webhooks/process-event';
import { recordWebhookEvent } from '../../../../domain/webhooks/record-event';
import { MAX_REPORTS_PER_CALLBACK } from '../../../../domain/webhooks/sms-payloads';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createContact, createShop } from '../../../../test/factories';
import { waitFor } from '../../../../test/sending';
import { counterValue, postSimulator, rid, sentRecipients as sentRecipientsIn } from '../../../../test/webhooks';
import type { Producer } from '../../../../queue/producer';
import type { WorkerDeps } from '../../../worker/src/deps';

// The batched form of the delivery-report callback: `{"reports": [...]}`
// under one signature, stored as ONE row (shared INSERTs, committed before
// the 200), its reports applied in bulk by the delivery-report drain; a
// report applied once changes nothing the second time, whichever form
// brought it.
describe('POST /webhooks/sms/:provider/status, batched', () => {
  let env: TestEnv;
  let app: Express;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks'] }));
  });
  afterAll(() => env.close());

  const sentRecipients = (n: number) => sentRecipientsIn(env.db, n);

  const report = (r: { id: string; pmid: string }, status: 'delivered' | 'failed' = 'delivered') =>
    ({ id: r.pmid, reference: `r${r.id}`, status, ...(status === 'failed' ? { errorCode: 'absent_subscriber' } : {}), timestamp: new Date().toISOString() });

  async function statuses(ids: string[]): Promise<string[]> {
    const rows = await env.db.$queryRaw<{ id: bigint; status: string }[]>`SELECT id, status FROM campaign_recipients WHERE id = ANY(${ids}::bigint[]) ORDER BY id`;
    return rows.map((r) => r.status);
  }

  /** Rows holding these reports: single rows by their key, batches by their payload. */
  async function storedEvents(pmids: string[]): Promise<number> {
    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM webhook_events w
       WHERE w.provider = 'sms-simulator'
         AND (split_part(w.event_id, ':', 1) = ANY(${pmids}::text[])
              OR (w.topic = 'status-batch' AND EXISTS (SELECT 1 FROM jsonb_array_elements(w.payload->'reports') r WHERE r->>'id' = ANY(${pmids}::text[]))))`;
    return Number(row!.n);
  }

  const applied = () => counterValue(worker.metrics, 'deliveryReports', { provider: 'simulator', status: 'delivered' });

  it('stores the body as one row before answering, applies its reports in bulk, and answers a retried body as duplicates', async () => {
    const rs = await sentRecipients(5);
    const before = await counterValue(worker.metrics, 'deliveryReports', { provider: 'simulator', status: 'delivered' });
    const body = { reports: [...rs.slice(0, 4).map((r) => report(r)), report(rs[4]!, 'failed')] };

    const res = await postSimulator(app, 'status', body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: 5, duplicates: 0 });
    // Committed before the 200 (the provider will not send them again): one row for the body.
    expect(await storedEvents(rs.map((r) => r.pmid))).toBe(1);

    await waitFor('reports applied', async () => (await statuses(rs.map((r) => r.id))).every((s) => s !== 'sent'));
    expect(await statuses(rs.map((r) => r.id))).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'failed']);
    expect((await counterValue(worker.metrics, 'deliveryReports', { provider: 'simulator', status: 'delivered' })) - before).toBe(4);

    // The provider retries the same body (it timed out on our 200): nothing new.
    expect((await postSimulator(app, 'status', body)).body).toEqual({ received: 0, duplicates: 5 });
    expect(await storedEvents(rs.map((r) => r.pmid))).toBe(1);
  });

  it('a report repeated inside one body, or sent singly and batched, is applied once', async () => {
    const [a, b] = await sentRecipients(2);
    const before = await applied();
    expect((await postSimulator(app, 'status', { reports: [report(a!), report(a!)] })).body).toEqual({ received: 2, duplicates: 0 });
    expect((await postSimulator(app, 'status', report(b!))).body).toEqual({ received: true });
    await waitFor('both applied', async () => (await statuses([a!.id, b!.id])).every((x) => x === 'delivered'));
    expect((await postSimulator(app, 'status', { reports: [report(b!)] })).body).toEqual({ received: 1, duplicates: 0 });
    await waitFor('every batch closed', async () => {
      const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events WHERE topic = 'status-batch' AND status = 'received'`;
      return row!.n === 0n;
    });
    expect((await applied()) - before).toBe(2);
    expect(await statuses([a!.id, b!.id])).toEqual(['delivered', 'delivered']);
  });

  it("a batch's report that beat its send's settle waits in a batch row of its own (with the callback's arrival time) and is applied once the send settles", async () => {
    const shop = await createShop(env.db);
    const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
    const contact = await createContact(env.db, shop.id);
    const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, claim_token, lease_until)
      VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sending', '00000000-0000-4000-8000-000000000001'::uuid, now() + interval '1 minute') RETURNING id`;
    const early = { id: String(row!.id), pmid: rid('msg') };
    const [sent] = await sentRecipients(1);
    const earlyReport = report(early);
    expect((await postSimulator(app, 'status', { reports: [report(sent!), earlyReport] })).body).toEqual({ received: 2, duplicates: 0 });
    await waitFor('the ready one applied', async () => (await statuses([sent!.id]))[0] === 'delivered');
    let waitingRow: { status: string; last_error: string | null; reports: unknown; same_arrival: boolean } | undefined;
    await waitFor('the early one waiting without its batch', async () => {
      [waitingRow] = await env.db.$queryRaw<NonNullable<typeof waitingRow>[]>`
        SELECT w.status, w.last_error, w.payload->'reports' AS reports,
               w.received_at = (SELECT o.received_at FROM webhook_events o WHERE o.topic = 'status-batch' AND o.payload->'reports' @> ${JSON.stringify([{ id: sent!.pmid }])}::jsonb) AS same_arrival
          FROM webhook_events w
         WHERE w.provider = 'sms-simulator' AND w.topic = 'status-batch' AND w.payload->'reports' @> ${JSON.stringify([{ id: early.pmid }])}::jsonb
           AND NOT w.payload->'reports' @> ${JSON.stringify([{ id: sent!.pmid }])}::jsonb`;
      return waitingRow?.status === 'received';
    });
    expect(waitingRow).toMatchObject({ status: 'received', last_error: null, reports: [earlyReport], same_arrival: true });
    // Not as a row of its own.
    const [single] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM webhook_events WHERE event_id = ${`${early.pmid}:delivered`}`;
    expect(single!.n).toBe(0);
    await env.db.$executeRaw`
      UPDATE campaign_recipients SET status = 'sent', provider_message_id = ${early.pmid}, segments = 1, sent_at = now(), claim_token = NULL, lease_until = NULL
       WHERE id = ${early.id}::bigint`;
    await waitFor('the early one applied', async () => (await statuses([early.id]))[0] === 'delivered');
  });

  it('a batch that reaches the per-event path (its drain job lost) is split into rows of their own', async () => {
    const rs = await sentRecipients(2);
    const id = await recordWebhookEvent(env.db, { provider: 'sms-simulator', eventId: rid('batch'), topic: 'status-batch', payload: { reports: rs.map((r) => report(r)) } });
    expect(await processWebhookEvent(worker, id!, { final: false })).toBe('processed');
    const rows = await env.db.$queryRaw<{ event_id: string }[]>`
      SELECT event_id FROM webhook_events WHERE topic = 'status' AND split_part(event_id, ':', 1) = ANY(${rs.map((r) => r.pmid)}::text[]) ORDER BY event_id`;
    expect(rows.map((r) => r.event_id)).toEqual(rs.map((r) => `${r.pmid}:delivered`).sort());
    const [batch] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM webhook_events WHERE id = ${id}::uuid`;
    expect(batch!.status).toBe('processed');
  });

  it("answers once the row is committed, not after the slot's drain job; a failed add is tried again by the slot's next callback", async () => {
    const rs = await sentRecipients(3);
    const real = env.workerDeps().producer;
    const adds: string[] = [];
    let release!: () => void;
    const redisAnswers = new Promise<void>((resolve) => (release = resolve));
    const slow: Producer = {
      add: async (name, payload, opts) => {
        adds.push(opts.jobId);
        if (adds.length === 1) throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
        // Redis answers only once every callback was answered.
        await redisAnswers;
        await real.add(name, payload, opts);
      },
      addBulk: (name, jobs) => real.addBulk(name, jobs),
    };
    // One instant for the three callbacks: one slot, so one drain job for all of them.
    const at = new Date();
    const { app: api } = await env.api({ producer: slow, now: () => at });
    for (const r of rs) expect((await postSimulator(api, 'status', { reports: [report(r)] })).body).toEqual({ received: 1, duplicates: 0 });
    // The first add failed, the second is still waiting for Redis, the third did not add it again.
    expect(adds).toHaveLength(2);
    expect(adds[1]).toBe(adds[0]);
    expect(await storedEvents(rs.map((r) => r.pmid))).toBe(3);
    release();
    await waitFor('every report applied', async () => (await statuses(rs.map((r) => r.id))).every((s) => s === 'delivered'));
  });

  it('one malformed report refuses the whole body and stores none of it', async () => {
    const rs = await sentRecipients(2);
    const res = await postSimulator(app, 'status', { reports: [report(rs[0]!), { ...report(rs[1]!), status: 'exploded' }] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(await storedEvents(rs.map((r) => r.pmid))).toBe(0);
  });

  it(`refuses an empty body and more than ${MAX_REPORTS_PER_CALLBACK} reports`, async () => {
    expect((await postSimulator(app, 'status', { reports: [] })).status).toBe(400);
    const many = Array.from({ length: MAX_REPORTS_PER_CALLBACK + 1 }, (_, i) => ({ id: `m${i}`, status: 'delivered' }));
    expect((await postSimulator(app, 'status', { reports: many })).status).toBe(400);
    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events WHERE event_id = 'm0:delivered'`;
    expect(row!.n).toBe(0n);
  });

  it('Mitto authenticates a batch by its URL secret, like a single report', async () => {
    const [r] = await sentRecipients(1);
    const body = JSON.stringify({ reports: [report(r!)] });
    const wrong = await request(app).post('/webhooks/sms/mitto/status?token=nope').set('Content-Type', 'application/json').send(body);
    expect(wrong.status).toBe(401);
    const ok = await request(app).post(`/webhooks/sms/mitto/status?token=${encodeURIComponent(env.config.SMS_WEBHOOK_SECRET)}`).set('Content-Type', 'application/json').send(body);
    expect(ok.body).toEqual({ received: 1, duplicates: 0 });
  });
});
