import { createTestEnv, type TestEnv } from '../harness';
import { listen, partialUpload, type Listening } from '../raw-http';

// The attack: /internal/* is public (the on-call CLI reaches it from outside),
// and its signature covers the body, so the body must be read to check it.
// But a request with no signature at all, or whose timestamp is already
// outside the window, cannot pass whatever its body is: it was still read
// (up to 64 KiB, with 100 Continue sent first) before the 401, so anyone
// could make the api read 64 KiB per request for nothing, as the webhooks'
// unsigned deliveries no longer can. Now such a request is refused before a
// byte of its body is read; a request that may be genuine is waited for.
describe('an /internal request that cannot be genuine', () => {
  let env: TestEnv;
  let server: Listening;

  beforeAll(async () => {
    env = await createTestEnv();
    const { app } = await env.api();
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
    await env.close();
  });

  async function upload(path: string, headers: Record<string, string>) {
    const before = server.bytesRead();
    const u = await partialUpload(server.port, {
      method: 'POST',
      path,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(60 * 1024), ...headers },
      firstPart: '{"reason":"',
      waitMs: 1_500,
    });
    return { response: u.response, read: server.bytesRead() - before };
  }

  const fresh = (): string => String(Math.floor(Date.now() / 1000));
  const signature = 'a'.repeat(64);

  it.each([
    ['no signature headers at all', {}],
    ['a signature without a timestamp', { 'X-Internal-Signature': signature }],
    ['a timestamp without a signature', { 'X-Internal-Timestamp': fresh() }],
    ['a timestamp past the window', { 'X-Internal-Timestamp': String(Math.floor(Date.now() / 1000) - 400), 'X-Internal-Signature': signature }],
    ['a signature that is not hex', { 'X-Internal-Timestamp': fresh(), 'X-Internal-Signature': 'not-a-signature' }],
    ['a nonce of the wrong shape', { 'X-Internal-Timestamp': fresh(), 'X-Internal-Signature': signature, 'X-Internal-Nonce': 'short' }],
  ])('%s: 401 before the body is sent', async (_name, headers) => {
    const { response, read } = await upload('/internal/reconcile', headers);
    expect(response?.status).toBe(401);
    expect((JSON.parse(response!.body) as { error: { code: string } }).error.code).toBe('INVALID_SIGNATURE');
    expect(response?.headers.connection).toBe('close');
    // The head and the few bytes sent with it: none of the 60 KiB declared was waited for.
    expect(read).toBeLessThan(1024);
  });

  it('an unknown /internal path without a signature is refused unread too', async () => {
    const { response, read } = await upload('/internal/no-such-route', {});
    expect(response?.status).toBe(401);
    expect(read).toBeLessThan(1024);
  });

  it('a request that may be genuine (fresh timestamp, a signature of the right shape) is waited for', async () => {
    const { response } = await upload('/internal/reconcile', { 'X-Internal-Timestamp': fresh(), 'X-Internal-Signature': signature });
    expect(response).toBeNull();
  });
});
