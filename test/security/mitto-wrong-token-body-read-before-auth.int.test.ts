import { createTestEnv, type TestEnv } from '../harness';
import { listen, partialUpload, type Listening } from '../raw-http';
import type { Metrics } from '../../lib/metrics';
import { counterValue } from '../webhooks';

// The attack: Mitto has no signature scheme; its callbacks are authenticated
// by the secret in their URL (`?token=`). That secret does not depend on the
// body, yet a wrong one was refused only after the body had been read (up to
// the SMS routes' 64 KiB), so anyone could make the api read and hash 64 KiB
// per request for nothing. Now a wrong token is refused before a byte of the
// body is read, on both Mitto routes, by the report fast path's full-stack
// fallback as well; the right token is still read and answered as before.
describe('a Mitto callback with a wrong URL token', () => {
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

  async function upload(path: string) {
    const before = server.bytesRead();
    const u = await partialUpload(server.port, {
      method: 'POST',
      path,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(60 * 1024) },
      firstPart: '{"id":"',
      waitMs: 2_000,
    });
    return { response: u.response, read: server.bytesRead() - before };
  }

  it.each(['status', 'inbound'])('POST /webhooks/sms/mitto/%s is 401 before its body is sent, and counted', async (kind) => {
    const refusedBefore = await counterValue(metrics, 'webhookEvents', { source: 'sms-mitto', outcome: 'invalid_signature' });
    const { response, read } = await upload(`/webhooks/sms/mitto/${kind}?token=not-the-secret`);
    expect(response?.status).toBe(401);
    expect((JSON.parse(response!.body) as { error: { code: string } }).error.code).toBe('INVALID_SIGNATURE');
    expect(response?.headers.connection).toBe('close');
    // The head and the few bytes sent with it: none of the 60 KiB declared was waited for.
    expect(read).toBeLessThan(1024);
    expect((await counterValue(metrics, 'webhookEvents', { source: 'sms-mitto', outcome: 'invalid_signature' })) - refusedBefore).toBe(1);
  });

  it('two tokens (one of them right) are refused unread too', async () => {
    const secret = encodeURIComponent(env.config.SMS_WEBHOOK_SECRET);
    const { response } = await upload(`/webhooks/sms/mitto/status?token=${secret}&token=x`);
    expect(response?.status).toBe(401);
  });

  it('the right token is waited for: no answer until the body has come', async () => {
    const { response } = await upload(`/webhooks/sms/mitto/status?token=${encodeURIComponent(env.config.SMS_WEBHOOK_SECRET)}`);
    expect(response).toBeNull();
  });
});
