import { createHash } from 'node:crypto';
import { signSimulatorPayload } from '../../domain/messaging/providers/simulator-signature';
import type { Metrics } from '../../lib/metrics';
import { createTestEnv, type TestEnv } from '../harness';
import { listen, partialUpload, type Listening } from '../raw-http';
import { counterValue } from '../webhooks';

// The attack: a Shopify or simulator webhook was read in full (Shopify up to
// 1 MiB, the SMS routes 64 KiB) as soon as its signature header was present,
// whatever that header said, and only then refused. A header that cannot
// verify whatever the body (a Shopify HMAC that is not the base64 of 32
// bytes; a simulator signature without a v1 digest or whose timestamp is
// outside the ±300 s window) let anyone make the api read and hash the whole
// limit per request (so did a URL token on the simulator's routes and a
// signature header on Mitto's, neither of which their scheme reads). Such a
// request is now refused before its body is read,
// as a missing header or a wrong Mitto token already was; a well-formed header
// is still waited for and verified against the body.
describe('a webhook whose signature header cannot verify whatever its body', () => {
  let env: TestEnv;
  let server: Listening;
  let metrics: Metrics;

  beforeAll(async () => {
    env = await createTestEnv();
    const { app, deps } = await env.api();
    metrics = deps.metrics;
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
    await env.close();
  });

  async function upload(path: string, headers: Record<string, string>, size: number) {
    const before = server.bytesRead();
    const u = await partialUpload(server.port, {
      method: 'POST',
      path,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(size), ...headers },
      firstPart: '{"id":"',
      waitMs: 2_000,
    });
    return { response: u.response, read: server.bytesRead() - before };
  }

  const now = () => Math.floor(Date.now() / 1000);
  const hex = createHash('sha256').update('x').digest('hex');
  const shopify = { 'X-Shopify-Topic': 'customers/create', 'X-Shopify-Webhook-Id': 'wh-1' };

  it.each([
    ['shopify', '/webhooks/shopify', { ...shopify, 'X-Shopify-Hmac-Sha256': 'not base64!' }, 900 * 1024],
    ['shopify', '/webhooks/shopify', { ...shopify, 'X-Shopify-Hmac-Sha256': Buffer.alloc(16).toString('base64') }, 900 * 1024],
    ['sms-simulator', '/webhooks/sms/simulator/status', { 'X-Simulator-Signature': `t=${now() - 3_600},v1=${hex}` }, 60 * 1024],
    ['sms-simulator', '/webhooks/sms/simulator/inbound', { 'X-Simulator-Signature': `t=${now() + 3_600},v1=${hex}` }, 60 * 1024],
    ['sms-simulator', '/webhooks/sms/simulator/status', { 'X-Simulator-Signature': `t=${now()}` }, 60 * 1024],
    ['sms-simulator', '/webhooks/sms/simulator/status', { 'X-Simulator-Signature': 'garbage' }, 60 * 1024],
    // Each provider's own credential only: a URL token means nothing to the simulator's scheme, a signature header nothing to Mitto's.
    ['sms-simulator', '/webhooks/sms/simulator/status?token=anything', {}, 60 * 1024],
    ['sms-mitto', '/webhooks/sms/mitto/inbound', { 'X-Simulator-Signature': `t=${now()},v1=${hex}` }, 60 * 1024],
  ])('%s %s with %j is 401 before its body is sent, and counted', async (source, path, headers, size) => {
    const refusedBefore = await counterValue(metrics, 'webhookEvents', { source, outcome: 'invalid_signature' });
    const { response, read } = await upload(path, headers, size);
    expect(response?.status).toBe(401);
    expect((JSON.parse(response!.body) as { error: { code: string } }).error.code).toBe('INVALID_SIGNATURE');
    expect(response?.headers.connection).toBe('close');
    expect(read).toBeLessThan(2048);
    expect((await counterValue(metrics, 'webhookEvents', { source, outcome: 'invalid_signature' })) - refusedBefore).toBe(1);
  });

  it.each([
    ['/webhooks/shopify', { ...shopify, 'X-Shopify-Hmac-Sha256': Buffer.alloc(32, 7).toString('base64') }],
    ['/webhooks/sms/simulator/status', { 'X-Simulator-Signature': signSimulatorPayload('any secret', 'any body') }],
  ])('%s with a well-formed signature header is waited for: no answer until the body has come', async (path, headers) => {
    const { response } = await upload(path, headers, 4 * 1024);
    expect(response).toBeNull();
  });
});
