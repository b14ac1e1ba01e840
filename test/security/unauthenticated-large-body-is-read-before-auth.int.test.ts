import { createTestEnv, type TestEnv } from '../harness';
import { createShop } from '../factories';
import { listen, partialUpload, type Listening } from '../raw-http';
import { sessionToken } from '../session-token';

// The attack: large unauthenticated POSTs. The api used to read and parse up
// to 10 MiB of JSON before looking at the session token, so anyone could make
// it spend memory and CPU. Now the token (a header) is checked first, and a
// refused request is answered while its body is still on the wire: the
// server reads only what had arrived and closes the connection instead of
// draining the rest.

const MiB = 1024 * 1024;
const FIRST_PART = '{"contacts":[' + ' '.repeat(1024 - 13);

describe('an unauthenticated large body is refused before it is read', () => {
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

  async function refusedUnread(path: string, headers: Record<string, string>, declared: number) {
    const before = server.bytesRead();
    const upload = await partialUpload(server.port, {
      method: 'POST',
      path,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(declared), ...headers },
      firstPart: FIRST_PART,
    });
    // The answer came while the client had sent 1 KiB of the declared body.
    const response = upload.response;
    const rest = await upload.keepSending(declared - FIRST_PART.length);
    return {
      status: response?.status,
      code: response ? (JSON.parse(response.body) as { error: { code: string } }).error.code : undefined,
      connection: response?.headers.connection,
      closedByServer: rest.closedByServer,
      // What the server read of this request: head, the first KiB, and whatever was in flight when it closed.
      serverReadUnderOneMiB: server.bytesRead() - before < MiB,
    };
  }

  const refused = (code: string) => ({ status: 401, code, connection: 'close', closedByServer: true, serverReadUnderOneMiB: true });

  it.each([
    ['no Authorization header', {}],
    ['a malformed token', { Authorization: 'Bearer not-a-token' }],
  ])('8 MB declared to the 10 MiB import route with %s: 401 without reading the body', async (_name, headers) => {
    expect(await refusedUnread('/api/contacts/import', headers, 8 * MiB)).toEqual(refused('UNAUTHENTICATED'));
  });

  it('a token signed with another secret is refused the same way', async () => {
    const shop = await createShop(env.db);
    const forged = await sessionToken(shop.domain, { secret: 'an-attacker-secret-of-decent-length' });
    expect(await refusedUnread('/api/contacts/import', { Authorization: `Bearer ${forged}` }, 8 * MiB)).toEqual(refused('UNAUTHENTICATED'));
  });

  it('a body within the 1 MiB limit of an ordinary route is not read either', async () => {
    expect(await refusedUnread('/api/campaigns', {}, 900 * 1024)).toEqual(refused('UNAUTHENTICATED'));
  });

  it.each([
    ['/webhooks/stripe', 'Stripe-Signature'],
    ['/webhooks/shopify', 'X-Shopify-Hmac-Sha256'],
    ['/webhooks/sms/simulator/status', 'X-Simulator-Signature'],
    ['/webhooks/sms/simulator/inbound', 'X-Simulator-Signature'],
  ])('%s without %s: 401 INVALID_SIGNATURE without reading the body', async (path) => {
    expect(await refusedUnread(path, {}, 60 * 1024)).toEqual(refused('INVALID_SIGNATURE'));
  });

  // A client that sends `Expect: 100-continue` uploads only once told to.
  // Node used to say so as soon as the head arrived, before any check ran.
  const expectContinue = async (headers: Record<string, string>, declared: number) => {
    const upload = await partialUpload(server.port, {
      method: 'POST',
      path: '/api/contacts/import',
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(declared), Expect: '100-continue', ...headers },
      firstPart: '',
    });
    const first = upload.response?.status;
    await upload.keepSending(0);
    return first;
  };

  it('with Expect: 100-continue, an unauthenticated upload is refused before it is invited', async () => {
    expect(await expectContinue({}, 8 * MiB)).toBe(401);
  });

  it('with Expect: 100-continue, an authenticated upload is invited once the route is about to read it', async () => {
    const shop = await createShop(env.db);
    expect(await expectContinue({ Authorization: `Bearer ${await sessionToken(shop.domain)}`, 'Idempotency-Key': 'expect-continue-1' }, 1024)).toBe(100);
  });

  it('with Expect: 100-continue, a declared length over the limit is refused before it is invited', async () => {
    const shop = await createShop(env.db);
    expect(await expectContinue({ Authorization: `Bearer ${await sessionToken(shop.domain)}`, 'Idempotency-Key': 'expect-continue-2' }, 11 * MiB)).toBe(413);
  });
});
