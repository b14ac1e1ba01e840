import type { Express } from 'express';
import request from 'supertest';
import { MAX_REPORTS_PER_CALLBACK } from '../../../../domain/webhooks/sms-payloads';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createContact, createShop } from '../../../../test/factories';
import { waitFor } from '../../../../test/sending';
import { counterValue, postSimulator, rid } from '../../../../test/webhooks';
import type { WorkerDeps } from '../../../worker/src/deps';

// The batched form of the delivery-report callback: `{"reports": [...]}`
// under one signature, stored in shared INSERTs before the 200, applied in
// bulk by the delivery-report drain, with the single form's dedup keys.
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

  /** `n` recipients of one campaign, sent, each with its provider id. */
  async function sentRecipients(n: number): Promise<{ id: string; pmid: string }[]> {
    const shop = await createShop(env.db);
    const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
    const out: { id: string; pmid: string }[] = [];
    for (let i = 0; i < n; i++) {
      const contact = await createContact(env.db, shop.id);
      const pmid = rid('msg');
      const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
        INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
        VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sent', ${pmid}, 1::smallint, now())
        RETURNING id`;
      out.push({ id: String(row!.id), pmid });
    }
    return out;
  }

  const report = (r: { id: string; pmid: string }, status: 'delivered' | 'failed' = 'delivered') =>
    ({ id: r.pmid, reference: `r${r.id}`, status, ...(status === 'failed' ? { errorCode: 'absent_subscriber' } : {}), timestamp: new Date().toISOString() });

  async function statuses(ids: string[]): Promise<string[]> {
    const rows = await env.db.$queryRaw<{ id: bigint; status: string }[]>`SELECT id, status FROM campaign_recipients WHERE id = ANY(${ids}::bigint[]) ORDER BY id`;
    return rows.map((r) => r.status);
  }

  async function storedEvents(pmids: string[]): Promise<number> {
    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM webhook_events WHERE provider = 'sms-simulator' AND split_part(event_id, ':', 1) = ANY(${pmids}::text[])`;
    return Number(row!.n);
  }

  it('stores every report of the body before answering, applies them in bulk, and answers a retried body as duplicates', async () => {
    const rs = await sentRecipients(5);
    const before = await counterValue(worker.metrics, 'deliveryReports', { provider: 'simulator', status: 'delivered' });
    const body = { reports: [...rs.slice(0, 4).map((r) => report(r)), report(rs[4]!, 'failed')] };

    const res = await postSimulator(app, 'status', body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: 5, duplicates: 0 });
    // Committed before the 200: the provider will not send them again.
    expect(await storedEvents(rs.map((r) => r.pmid))).toBe(5);

    await waitFor('reports applied', async () => (await statuses(rs.map((r) => r.id))).every((s) => s !== 'sent'));
    expect(await statuses(rs.map((r) => r.id))).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'failed']);
    expect((await counterValue(worker.metrics, 'deliveryReports', { provider: 'simulator', status: 'delivered' })) - before).toBe(4);

    // The provider retries the same body (it timed out on our 200): nothing new.
    expect((await postSimulator(app, 'status', body)).body).toEqual({ received: 0, duplicates: 5 });
    expect(await storedEvents(rs.map((r) => r.pmid))).toBe(5);
  });

  it('a report repeated inside one body is stored once', async () => {
    const [r] = await sentRecipients(1);
    const res = await postSimulator(app, 'status', { reports: [report(r!), report(r!)] });
    expect(res.body).toEqual({ received: 1, duplicates: 1 });
    expect(await storedEvents([r!.pmid])).toBe(1);
  });

  it('single and batched reports of one message share the dedup key', async () => {
    const [r] = await sentRecipients(1);
    expect((await postSimulator(app, 'status', report(r!))).body).toEqual({ received: true });
    expect((await postSimulator(app, 'status', { reports: [report(r!)] })).body).toEqual({ received: 0, duplicates: 1 });
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
