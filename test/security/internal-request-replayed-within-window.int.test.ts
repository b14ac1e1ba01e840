import type { Express } from 'express';
import { createHmac } from 'node:crypto';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';
import { resend, startOpsCapture, type CapturedRequest, type OpsCapture } from '../ops-capture';

// Attack: capture one signed /internal request of the on-call CLI (a proxy
// log, a shared terminal recording) and send it again within its 5-minute
// window: it ran again. Or append a query string to it: the signature did not
// cover the query, so it still passed. Closed: the signature covers
// "<timestamp>.<nonce>.<METHOD>.<path with query>.<raw body>", and each
// X-Internal-Nonce is accepted once (Redis SET NX, kept for the window). The
// contract's nonce-less form (api.md) is accepted too, and is spent by its
// signature the same way.

let env: TestEnv;
let app: Express;
let ops: OpsCapture;

beforeAll(async () => {
  env = await createTestEnv();
  ({ app } = await env.api());
  ops = await startOpsCapture(env, { repairs: {}, campaignsStuck: 0, ledgerMismatches: [] });
});
afterAll(async () => {
  await ops.close();
  await env.close();
});

const captureReconcile = (): Promise<CapturedRequest> => ops.capture(['reconcile']);
const send = (c: CapturedRequest, url = c.url): request.Test => resend(app, c, url);

it('a captured request runs once; the same bytes again are 401 INVALID_SIGNATURE', async () => {
  const c = await captureReconcile();
  const first = await send(c);
  expect(first.status).toBe(200);
  const replay = await send(c);
  expect({ status: replay.status, code: replay.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
});

it('a query string added to a captured request breaks its signature (and does not burn its nonce)', async () => {
  const c = await captureReconcile();
  const tampered = await send(c, `${c.url}?campaignId=00000000-0000-4000-8000-000000000000`);
  expect({ status: tampered.status, code: tampered.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  expect((await send(c)).status).toBe(200);
});

it('every CLI call carries a fresh nonce: two runs of the same command both pass', async () => {
  const a = await captureReconcile();
  const b = await captureReconcile();
  expect(a.headers['x-internal-nonce']).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
  expect(b.headers['x-internal-nonce']).not.toBe(a.headers['x-internal-nonce']);
  expect([(await send(a)).status, (await send(b)).status]).toEqual([200, 200]);
});

it("a captured request in the contract's nonce-less form runs once too; with a query added, or a nonce added, it is refused", async () => {
  const ts = String(Math.floor(Date.now() / 1000));
  const body = '{}';
  const headers = {
    'X-Internal-Timestamp': ts,
    'X-Internal-Signature': createHmac('sha256', env.config.INTERNAL_SIGNING_SECRET!).update(`${ts}.POST./internal/reconcile.${body}`).digest('hex'),
    'Content-Type': 'application/json',
  };
  const tampered = await request(app).post('/internal/reconcile?campaignId=00000000-0000-4000-8000-000000000000').set(headers).send(body);
  expect({ status: tampered.status, code: tampered.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  const withNonce = await request(app).post('/internal/reconcile').set({ ...headers, 'X-Internal-Nonce': 'an-added-nonce-0001' }).send(body);
  expect(withNonce.status).toBe(401);
  expect((await request(app).post('/internal/reconcile').set(headers).send(body)).status).toBe(200);
  const replay = await request(app).post('/internal/reconcile').set(headers).send(body);
  expect({ status: replay.status, code: replay.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
});
