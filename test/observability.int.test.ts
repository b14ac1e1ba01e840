import type { Server } from 'node:http';
import request from 'supertest';
import type { Express } from 'express';
import { createSimulator, type SimulatorHandle } from '../apps/sms-simulator/src/simulator';
import type { MittoProvider } from '../domain/messaging/providers';
import { createTestEnv, type TestEnv } from './harness';
import { sessionToken } from './session-token';
import { SIM_API_KEY, campaignStatus, disableQuietHours, simulatorProvider, waitFor } from './sending';
import { postShopify, postStripe, rid, sessionObject, stripeEvent } from './webhooks';

// One whole campaign, end to end through the real api (listening, so the
// simulator's signed delivery reports and inbound STOP reach it), real workers
// and the simulator, plus Stripe and Shopify webhooks — then:
//  - one trace id is followed from POST …/enqueue to the provider request;
//  - no known phone, email, name, message text, token or secret appears in any
//    captured log line of the api or the worker.

const TRACE = 'trace-obs-e2e-7f3a';
const SHOP = 'observable-shop.myshopify.com';
const PEOPLE = [
  { phone: '+12015550187', national: '(201) 555-0187', email: 'grace.hopperton@example.com', firstName: 'Gracelyn', lastName: 'Hopperton' },
  { phone: '+447911123456', national: '07911 123456', email: 'alan.turingford@example.org', firstName: 'Alanzo', lastName: 'Turingford' },
  { phone: '+12015550164', national: '(201) 555-0164', email: 'katherine.j@example.net', firstName: 'Katherina', lastName: 'Johnsonby' },
];
const SHOPIFY_CUSTOMER = { phone: '+12015550199', email: 'margaret.h@example.com', firstName: 'Margarethe', lastName: 'Hamiltonia' };

let env: TestEnv;
let app: Express;
let server: Server;
let sim: SimulatorHandle;
let provider: MittoProvider;
let token: string;
let campaignId: string;
let shopId: string;
const secretsSeen: string[] = [];

beforeAll(async () => {
  env = await createTestEnv({ LOG_LEVEL: 'debug' });
  ({ app } = await env.api());
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  sim = createSimulator({
    apiKey: SIM_API_KEY,
    host: '127.0.0.1',
    webhookSecret: process.env.SMS_WEBHOOK_SECRET!,
    dlrEnabled: true,
    dlrDelayMs: 5,
    deliveredRatio: 1,
    dlrUrl: `${apiUrl}/webhooks/sms/simulator/status`,
    inboundUrl: `${apiUrl}/webhooks/sms/simulator/inbound`,
  });
  const { url } = await sim.start(0);
  provider = simulatorProvider(url);
  await env.worker({ overrides: { provider } });
  token = await sessionToken(SHOP);
  secretsSeen.push(token);
  const auth = { Authorization: `Bearer ${token}` };

  const shop = await request(app).get('/api/shop').set(auth);
  expect(shop.status).toBe(200);
  shopId = shop.body.id;
  await disableQuietHours(env.db, shopId);

  // Credits through a Stripe-signed checkout completion.
  const sessionId = rid('cs_test');
  await env.db.$executeRaw`INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency) VALUES (${shopId}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
  const stripe = await postStripe(app, stripeEvent('checkout.session.completed', sessionObject(sessionId, { shopId })));
  expect(stripe.status).toBe(200);
  await waitFor('credits granted', async () => (await request(app).get('/api/wallet').set(auth)).body.balance === 1000);

  for (const p of PEOPLE) {
    const country = p.phone.startsWith('+44') ? 'GB' : 'US';
    const res = await request(app).post('/api/contacts').set(auth).send({ phone: p.national, country, email: p.email, firstName: p.firstName, lastName: p.lastName, smsConsent: 'subscribed' });
    expect(res.status).toBe(201);
  }
  const created = await request(app).post('/api/campaigns').set(auth).send({ name: 'Spring', body: 'Hi {{firstName|there}} {{lastName}}, spring sale at {{shopName}}!' });
  expect(created.status).toBe(201);
  campaignId = created.body.id;
  const enq = await request(app).post(`/api/campaigns/${campaignId}/enqueue`).set(auth).set('Idempotency-Key', 'obs-enqueue-1').set('X-Request-Id', TRACE).send({});
  expect(enq.status).toBe(202);
  expect(enq.headers['x-request-id']).toBe(TRACE);
  await waitFor('campaign completed', async () => (await campaignStatus(env.db, campaignId)) === 'completed', 30_000);
  await waitFor('delivery reports applied', async () => {
    const [r] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND status = 'delivered'`;
    return Number(r!.n) === PEOPLE.length;
  });

  // A STOP from the first person, and a Shopify customer update with PII.
  const stop = await sim.inbound(PEOPLE[0]!.phone, 'Marketing', 'STOP');
  expect(stop.status).toBe(200);
  const shopify = await postShopify(app, 'customers/update', {
    id: 987654321,
    email: SHOPIFY_CUSTOMER.email,
    phone: SHOPIFY_CUSTOMER.phone,
    first_name: SHOPIFY_CUSTOMER.firstName,
    last_name: SHOPIFY_CUSTOMER.lastName,
    updated_at: new Date().toISOString(),
    sms_marketing_consent: { state: 'subscribed', consent_updated_at: new Date().toISOString() },
  }, { shopDomain: SHOP });
  expect(shopify.status).toBe(200);
  // A rejected token is logged as a failure, never as its value.
  const bad = await request(app).get('/api/shop').set('Authorization', `Bearer ${token}tampered`);
  expect(bad.status).toBe(401);
  await waitFor('webhooks processed', async () => {
    const [r] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events WHERE status = 'received'`;
    return Number(r!.n) === 0;
  });
  // Webhook requests are logged as a per-second summary (docs/observability, "Access log"): wait for it, so it is checked too.
  await waitFor('the webhook access summary', () => env.logs.lines.some((l) => l.includes('"request summary"')));
}, 60_000);

afterAll(async () => {
  await env.close();
  provider.close();
  await sim.stop();
  await new Promise((r) => server.close(r));
});

type Line = Record<string, unknown>;
const lines = (): Line[] => env.logs.lines.map((l) => JSON.parse(l) as Line);

describe('one trace id from the HTTP request to the provider', () => {
  it('is on the outbox row, the job payloads and the provider request', async () => {
    const [outbox] = await env.db.$queryRaw<{ trace_id: string }[]>`SELECT trace_id FROM outbox_events WHERE aggregate_id = ${campaignId} AND event_type = 'campaign.launch.v1'`;
    expect(outbox!.trace_id).toBe(TRACE);
    const [campaign] = await env.db.$queryRaw<{ trace_id: string }[]>`SELECT trace_id FROM campaigns WHERE id = ${campaignId}::uuid`;
    expect(campaign!.trace_id).toBe(TRACE);
    const recipients = await env.db.$queryRaw<{ id: bigint }[]>`SELECT id FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid`;
    expect(recipients).toHaveLength(PEOPLE.length);
    for (const r of recipients) expect(sim.tracesFor(`r${r.id}`).traceIds).toContain(TRACE);
  });

  it('is on the log lines of the api request and of the worker jobs it caused', () => {
    const traced = lines().filter((l) => l.traceId === TRACE);
    expect(traced.some((l) => l.service === 'api' && l.requestId === TRACE)).toBe(true);
    const workerLines = traced.filter((l) => l.service === 'worker');
    expect(workerLines.length).toBeGreaterThan(0);
    expect(workerLines.every((l) => typeof l.jobId === 'string')).toBe(true);
    expect(new Set(workerLines.map((l) => l.queue))).toEqual(new Set(['campaigns', 'sends']));
  });
});

describe('PII-free logs', () => {
  it('captured a real amount of logging from both processes', () => {
    const services = new Set(lines().map((l) => l.service));
    expect(services).toEqual(new Set(['api', 'worker']));
    expect(env.logs.lines.length).toBeGreaterThan(15);
  });

  it('contains no phone number, email, name, rendered message, token or secret', () => {
    const text = env.logs.text();
    const needles = [
      ...PEOPLE.flatMap((p) => [p.phone, p.phone.slice(1), p.national, p.email, p.firstName, p.lastName]),
      SHOPIFY_CUSTOMER.phone, SHOPIFY_CUSTOMER.phone.slice(1), SHOPIFY_CUSTOMER.email, SHOPIFY_CUSTOMER.firstName, SHOPIFY_CUSTOMER.lastName,
      'spring sale at',
      ...secretsSeen,
      process.env.SHOPIFY_API_SECRET!, process.env.STRIPE_WEBHOOK_SECRET!, process.env.SMS_WEBHOOK_SECRET!, process.env.INTERNAL_SIGNING_SECRET!, SIM_API_KEY,
    ];
    const leaks = needles.filter((n) => text.includes(n));
    expect(leaks).toEqual([]);
    // Signature headers never appear either (they would be hex/base64 blobs next to their names).
    expect(text).not.toMatch(/"(stripe-signature|x-shopify-hmac-sha256|x-simulator-signature|authorization)":"(?!\[redacted\])/i);
  });
});
