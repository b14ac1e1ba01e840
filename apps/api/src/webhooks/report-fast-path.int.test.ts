import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { signSimulatorPayload } from '../../../../domain/messaging/providers/simulator-signature';
import { splitReportBatches } from '../../../../domain/webhooks/split-report-batches';
import { storeDeliveryReports } from '../../../../domain/webhooks/store-delivery-report';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { listen } from '../../../../test/raw-http';
import { waitFor } from '../../../../test/sending';
import { counterValue, postSimulator, reportHolders, reportOutcome, rid, sentRecipients as sentRecipientsIn } from '../../../../test/webhooks';
import type { ApiDeps } from '../deps';

// A delivery report sent one per request (Mitto's form) is answered by the
// report fast path ahead of the middleware stack, and stored with the other
// reports of its moment: one inbox row per group commit, one dedup key per
// report. What a provider and the on-call person see must not change: the
// same answers, error shape, request id, metrics and access summary as the
// full stack, each report applied once, a repeat answered as a duplicate.
describe('delivery reports one per request: the fast path and the group commit', () => {
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps: api } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(() => env.close());

  const sentRecipients = (n: number) => sentRecipientsIn(env.db, n);

  /** A POST without Content-Length (node sends it chunked), which the fast path leaves to the full stack. */
  async function chunkedPost(path: string, raw: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, string | string[] | undefined> }> {
    const server = await listen(app);
    try {
      return await new Promise((resolve, reject) => {
        const req = httpRequest({ port: server.port, host: '127.0.0.1', method: 'POST', path, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: res.headers }));
        });
        req.on('error', reject);
        req.write(raw.slice(0, 5));
        req.end(raw.slice(5));
      });
    } finally {
      await server.close();
    }
  }

  const statusOf = async (id: string) => (await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaign_recipients WHERE id = ${id}::bigint`)[0]!.status;
  const report = (pmid: string, id: string) => ({ id: pmid, reference: `r${id}`, status: 'delivered', timestamp: new Date().toISOString() });

  it('reports posted at once are each answered once stored, applied once, with one dedup key each', async () => {
    const rs = await sentRecipients(40);
    const answers = await Promise.all(rs.map((r) => postSimulator(app, 'status', report(r.pmid, r.id))));
    expect(answers.map((a) => [a.status, a.body])).toEqual(rs.map(() => [200, { received: true }]));
    for (const r of rs) {
      await waitFor(`report ${r.pmid} applied`, async () => (await reportOutcome(env.db, 'sms-simulator', `${r.pmid}:delivered`)) === 'processed');
      expect(await statusOf(r.id)).toBe('delivered');
      // Held by exactly one inbox row: a group, never a row per report.
      expect(await reportHolders(env.db, 'sms-simulator', `${r.pmid}:delivered`)).toEqual([expect.objectContaining({ topic: 'status-batch' })]);
    }
    const [keys] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM delivery_report_keys WHERE provider = 'sms-simulator' AND event_id = ANY(${rs.map((r) => `${r.pmid}:delivered`)}::text[])`;
    expect(Number(keys!.n)).toBe(40);
  });

  it('one statement stores several reports as one inbox row; a report repeated in it, or already stored, is a duplicate', async () => {
    const pmids = [rid('msg'), rid('msg'), rid('msg')];
    const item = (pmid: string, traceId: string) => ({ provider: 'sms-mitto' as const, eventId: `${pmid}:delivered`, report: { id: pmid, status: 'delivered' as const }, traceId });
    expect(await storeDeliveryReports(env.db, [item(pmids[0]!, 't-0'), item(pmids[1]!, 't-1'), item(pmids[0]!, 't-2')])).toEqual([true, true, false]);
    expect(await storeDeliveryReports(env.db, [item(pmids[1]!, 't-3'), item(pmids[2]!, 't-4')])).toEqual([false, true]);
    const rows = await env.db.$queryRaw<{ event_id: string; payload: { reports: { id: string }[]; traceIds: string[] }; trace_id: string }[]>`
      SELECT event_id, payload, trace_id FROM webhook_events
       WHERE provider = 'sms-mitto' AND topic = 'status-batch' AND payload->'reports' @> ANY(ARRAY[${JSON.stringify([{ id: pmids[0] }])}::jsonb, ${JSON.stringify([{ id: pmids[2] }])}::jsonb])
       ORDER BY received_at`;
    expect(rows.map((r) => [r.payload.reports.map((x) => x.id), r.payload.traceIds, r.trace_id])).toEqual([
      [[pmids[0], pmids[1]], ['t-0', 't-1'], 't-0'],
      [[pmids[2]], ['t-4'], 't-4'],
    ]);
    expect(rows.every((r) => r.event_id.startsWith('group:'))).toBe(true);
  });

  it('the same report posted ten times at once is stored once: one received, nine duplicates', async () => {
    const [r] = await sentRecipients(1);
    const body = report(r!.pmid, r!.id);
    const answers = await Promise.all(Array.from({ length: 10 }, () => postSimulator(app, 'status', body)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(answers.filter((a) => a.body.received === true)).toHaveLength(1);
    expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(9);
    expect(await reportHolders(env.db, 'sms-simulator', `${r!.pmid}:delivered`)).toHaveLength(1);
  });

  it('the request id travels: echoed, kept with the report, and on the row of a report split out of its group', async () => {
    const [r] = await sentRecipients(1);
    const requestId = `dlr-${randomUUID()}`;
    const raw = JSON.stringify({ id: r!.pmid, status: 'failed', errorCode: 'absent_subscriber' });
    const res = await request(app)
      .post('/webhooks/sms/simulator/status')
      .set('Content-Type', 'application/json')
      .set('X-Request-Id', requestId)
      .set('X-Simulator-Signature', signSimulatorPayload(env.config.SMS_WEBHOOK_SECRET, raw))
      .send(raw);
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe(requestId);
    const [group] = await reportHolders(env.db, 'sms-simulator', `${r!.pmid}:failed`);
    const [row] = await env.db.$queryRaw<{ payload: { traceIds: string[] } }[]>`SELECT payload FROM webhook_events WHERE id = ${group!.id}::uuid`;
    expect(row!.payload.traceIds).toContain(requestId);
    // Split out (the way out for a group its bulk pass cannot take): the report's own row carries its request id.
    await env.db.$executeRaw`UPDATE webhook_events SET status = 'received' WHERE id = ${group!.id}::uuid`;
    await splitReportBatches(env.db, [group!.id]);
    const [own] = await env.db.$queryRaw<{ trace_id: string }[]>`SELECT trace_id FROM webhook_events WHERE provider = 'sms-simulator' AND event_id = ${`${r!.pmid}:failed`}`;
    expect(own!.trace_id).toBe(requestId);
  });

  it('answers as the full stack does: a report sent chunked (which the full stack reads) gets the same answer, headers and metric', async () => {
    const [a, b] = await sentRecipients(2);
    const route = { method: 'POST', route: '/webhooks/sms/:provider/status', status: '200' };
    const before = await counterValue(api.metrics, 'httpRequests', route);
    const fast = await postSimulator(app, 'status', report(a!.pmid, a!.id));
    const raw = JSON.stringify(report(b!.pmid, b!.id));
    const full = await chunkedPost('/webhooks/sms/simulator/status', raw, { 'X-Simulator-Signature': signSimulatorPayload(env.config.SMS_WEBHOOK_SECRET, raw) });
    for (const res of [fast, full]) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ received: true });
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect((await counterValue(api.metrics, 'httpRequests', route)) - before).toBe(2);
  });

  it("refuses in the documented shape, with the request's id: a bad signature (401), a signed body that is not JSON or not a report (400)", async () => {
    const before = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM delivery_report_keys`;
    const bad = await postSimulator(app, 'status', { id: rid('msg'), status: 'delivered' }, { secret: 'not-the-secret' });
    const notJson = await postSimulator(app, 'status', '{"id": "m1", "status":');
    const notReport = await postSimulator(app, 'status', { id: 'm1', status: 'exploded' });
    expect([bad.status, notJson.status, notReport.status]).toEqual([401, 400, 400]);
    expect(bad.body.error).toMatchObject({ code: 'INVALID_SIGNATURE', requestId: bad.headers['x-request-id'] });
    expect(notJson.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'Webhook body is not valid JSON' });
    expect(notReport.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: 'status' })] });
    for (const res of [bad, notJson, notReport]) expect(JSON.stringify(res.body)).not.toMatch(/stack|at .*\.ts/);
    expect(await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM delivery_report_keys`).toEqual(before);
    // Each error logged on its own line, without the URL's query (Mitto's secret travels there).
    await waitFor('the 401 logged', () => env.logs.lines.some((l) => l.includes(String(bad.headers['x-request-id']))));
  });

  it('every request is in the per-second access summary of its route, with its status class', async () => {
    const [r] = await sentRecipients(1);
    const from = env.logs.lines.length;
    await postSimulator(app, 'status', report(r!.pmid, r!.id));
    await postSimulator(app, 'status', { id: 'x', status: 'exploded' });
    // Summed over the lines written since: the two requests may fall in different seconds.
    const classes = (): Record<string, number> =>
      env.logs.lines
        .slice(from)
        .filter((l) => l.includes('"request summary"') && l.includes('"/webhooks/sms/simulator/status"'))
        .map((l) => JSON.parse(l) as { status: Record<string, number> })
        .reduce<Record<string, number>>((acc, l) => {
          for (const [k, v] of Object.entries(l.status)) acc[k] = (acc[k] ?? 0) + v;
          return acc;
        }, {});
    await waitFor('both requests summarised', () => (classes()['2xx'] ?? 0) >= 1 && (classes()['4xx'] ?? 0) >= 1, 5_000);
  });

  it('a client that hangs up mid-body is counted as 499, stores nothing, and the api goes on answering', async () => {
    const server = await listen(app);
    try {
      const pmid = rid('msg');
      const raw = JSON.stringify({ id: pmid, status: 'delivered' });
      const socket = connect(server.port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      const sig = signSimulatorPayload(env.config.SMS_WEBHOOK_SECRET, raw);
      const head = [`POST /webhooks/sms/simulator/status HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${raw.length}`, `X-Simulator-Signature: ${sig}`, '', ''].join('\r\n');
      const before = server.bytesRead();
      socket.write(head);
      socket.write(raw.slice(0, 10));
      // Hung up only once the server has the head (and so the request) in hand, however busy the machine.
      await waitFor('the head read', () => server.bytesRead() - before >= head.length + 10, 5_000);
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
      await waitFor('the abandoned request summarised', () => env.logs.lines.some((l) => l.includes('"request aborted"') && l.includes('/webhooks/sms/simulator/status')), 5_000);
      // Counted in http_requests_total only when answered, as the full stack's httpMetrics does.
      expect(await counterValue(api.metrics, 'httpRequests', { route: '/webhooks/sms/:provider/status', status: '499' })).toBe(0);
      expect(await reportHolders(env.db, 'sms-simulator', `${pmid}:delivered`)).toEqual([]);
      const [r] = await sentRecipients(1);
      // Built once: the report carries a timestamp, and the signature must cover the very bytes sent.
      const body = JSON.stringify(report(r!.pmid, r!.id));
      const res = await request(`http://127.0.0.1:${server.port}`)
        .post('/webhooks/sms/simulator/status')
        .set('Content-Type', 'application/json')
        .set('X-Simulator-Signature', signSimulatorPayload(env.config.SMS_WEBHOOK_SECRET, body))
        .send(body);
      expect(res.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
