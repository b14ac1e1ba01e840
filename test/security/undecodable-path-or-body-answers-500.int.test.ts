import { request as httpRequest } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { Express } from 'express';
import request from 'supertest';
import { createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { listen, type Listening } from '../raw-http';
import { sessionToken } from '../session-token';
import { tableFingerprints } from '../table-fingerprints';

// Attack: a path parameter that does not percent-decode (`/api/contacts/%E0%A4%A`,
// `/%`) or a compressed body that does not inflate made the router or the
// body parser throw an error the error table did not know: 500 INTERNAL, an
// error logged per request (anyone could raise the 5xx rate, unauthenticated
// on the short-link and webhook paths), and on the short-link path no
// X-Request-Id at all. Now: 404 NOT_FOUND for the path (it names nothing, like
// any id of the wrong shape), 400 VALIDATION_FAILED for the body, each in the
// error shape with its request id, and nothing written.

describe('undecodable paths and bodies are the client mistake they are', () => {
  let env: TestEnv;
  let app: Express;
  let server: Listening;
  let shop: ShopFixture;
  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    server = await listen(app);
    shop = await createShop(env.db);
  });
  afterAll(async () => {
    await server.close();
    await env.close();
  });

  it.each([
    ['GET', '/api/contacts/%E0%A4%A', true],
    ['GET', '/api/campaigns/%', true],
    ['POST', '/api/flows/%ZZ/activate', true],
    ['GET', '/api/contacts/imports/%C0/rejections', true],
    ['POST', '/webhooks/sms/%E0%A4%A/status', false],
    ['GET', '/app/%', false],
    ['GET', '/%', false],
    ['POST', '/%E0%A4%A', false],
  ])('%s %s is 404 NOT_FOUND in the error shape with its request id', async (method, path, authed) => {
    const before = await tableFingerprints(env.db);
    let req = request(app)[method === 'GET' ? 'get' : 'post'](path).set('X-Request-Id', 'undecodable-1');
    if (authed) req = req.set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', 'k-undecodable');
    const res = await req;
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(res.headers['x-request-id']).toBe('undecodable-1');
    expect(res.body.error.requestId).toBe('undecodable-1');
    expect(await tableFingerprints(env.db)).toEqual(before);
  });

  it('the short-link path mints a request id when the client sends none', async () => {
    const res = await request(app).get('/%');
    expect(res.status).toBe(404);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.error.requestId).toBe(res.headers['x-request-id']);
  });

  /** supertest re-encodes Buffer bodies sent with a Content-Encoding, so these go out through node:http as given. */
  const post = async (encoding: string, body: Buffer, path = '/api/contacts', extra: Record<string, string> = {}): Promise<{ status: number; json: { error?: { code: string; requestId: string } } }> => {
    const token = await sessionToken(shop.domain);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: server.port,
          path,
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-encoding': encoding, 'content-length': body.length, ...extra },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { error?: { code: string; requestId: string } } }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };

  it('a well-formed gzip, deflate or br body is read', async () => {
    for (const [encoding, zip] of [['gzip', gzipSync], ['deflate', deflateSync], ['br', brotliCompressSync]] as const) {
      const res = await post(encoding, zip(Buffer.from(JSON.stringify({ phone: `+1201555${String(1000 + Math.floor(Math.random() * 8999))}` }))));
      expect(res.status).toBe(201);
    }
  });

  it.each([
    ['gzip', Buffer.from('not gzip at all')],
    ['deflate', Buffer.from('not deflate at all')],
    ['br', Buffer.from('not brotli at all')],
    ['gzip', gzipSync('{"phone":"+12015550123"}').subarray(0, 12)],
  ])('a corrupt %s body is 400 VALIDATION_FAILED, nothing written', async (encoding, body) => {
    const before = await tableFingerprints(env.db);
    const res = await post(encoding, body);
    expect({ status: res.status, code: res.json.error?.code }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(await tableFingerprints(env.db)).toEqual(before);
  });

  it('an unauthenticated webhook delivery with a corrupt gzip body is a 4xx, not a 500', async () => {
    const res = await post('gzip', Buffer.from('not gzip at all'), '/webhooks/shopify', {
      'x-shopify-hmac-sha256': 'AAAA',
      'x-shopify-topic': 'app/uninstalled',
      'x-shopify-webhook-id': 'w-corrupt-gzip',
      'x-shopify-shop-domain': shop.domain,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });
});
