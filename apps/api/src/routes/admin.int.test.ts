import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import request from 'supertest';
import type { Express } from 'express';
import { ensureAdminBuilt } from '../../../../test/admin-build';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { sessionToken } from '../../../../test/session-token';
import { ADMIN_DIST_DIR } from './admin.routes';

let env: TestEnv;
let app: Express;
beforeAll(async () => {
  ensureAdminBuilt();
  env = await createTestEnv();
  ({ app } = await env.api());
}, 60_000);
afterAll(async () => {
  await env.close();
});

const anAsset = (ext: string): string => readdirSync(join(ADMIN_DIST_DIR, 'assets')).find((f) => f.endsWith(ext))!;

describe('GET /app (the embedded admin)', () => {
  it('serves index.html framable by the named shop and admin.shopify.com only, never cached', async () => {
    const res = await request(app).get('/app?shop=acme.myshopify.com&host=abc&embedded=1');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toBe('frame-ancestors https://acme.myshopify.com https://admin.shopify.com;');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text).toContain('<div id="root">');
    expect(res.text).toContain('https://cdn.shopify.com/shopifycloud/app-bridge.js');
    // The api key is filled in (App Bridge reads it from the meta tag).
    expect(res.text).toContain(`<meta name="shopify-api-key" content="${env.config.SHOPIFY_API_KEY}"`);
  });

  it.each([
    ['no shop', '/app'],
    ['a shop outside myshopify.com', '/app?shop=evil.example.com'],
    ['a shop with a path', '/app?shop=acme.myshopify.com/x'],
    ['a shop smuggling a second source', '/app?shop=acme.myshopify.com%20https://evil.example'],
    ['a shop given twice', '/app?shop=a.myshopify.com&shop=b.myshopify.com'],
  ])('with %s only admin.shopify.com may frame it', async (_what, url) => {
    const res = await request(app).get(url);
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toBe('frame-ancestors https://admin.shopify.com;');
  });

  it('answers index.html on every page of the app (the browser routes)', async () => {
    for (const p of ['/app/campaigns', '/app/campaigns/new', '/app/settings']) {
      const res = await request(app).get(`${p}?shop=acme.myshopify.com`);
      expect(res.status).toBe(200);
      expect(res.headers['content-security-policy']).toContain('https://acme.myshopify.com');
      expect(res.text).toContain('<div id="root">');
    }
  });

  it('serves hashed assets for a year, immutable', async () => {
    for (const ext of ['.js', '.css']) {
      const res = await request(app).get(`/app/assets/${anAsset(ext)}`);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-type']).toMatch(ext === '.js' ? /javascript/ : /text\/css/);
    }
  });

  it('serves the build\'s brotli or gzip copy by Accept-Encoding, the file itself otherwise', async () => {
    const js = anAsset('.js');
    const plain = await request(app).get(`/app/assets/${js}`).set('Accept-Encoding', 'identity');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/Accept-Encoding/);
    for (const [accept, encoding] of [
      ['gzip, deflate, br', 'br'],
      ['gzip', 'gzip'],
    ] as const) {
      const res = await request(app).get(`/app/assets/${js}`).set('Accept-Encoding', accept);
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBe(encoding);
      expect(res.headers['content-type']).toMatch(/javascript/);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers.vary).toMatch(/Accept-Encoding/);
      // supertest decodes it: the same script.
      expect(res.text).toBe(plain.text);
    }
    // The copies themselves are not addressable.
    expect((await request(app).get(`/app/assets/${js}.br`)).status).toBe(404);
  });

  it.each([
    '/app/assets/missing-abc123.js',
    '/app/assets/..%2f..%2fpackage.json',
    '/app/assets/%2e%2e%2findex.html',
    '/app/assets/.sources-mtime',
    '/app/../package.json',
    '/app/%2e%2e/package.json',
    '/app/favicon.ico',
    '/app/index.html.bak',
    '/app/assets',
  ])('%s is 404 (unknown file, no traversal)', async (url) => {
    const res = await request(app).get(url);
    expect(res.status).toBe(404);
    expect(res.text).not.toContain('"name": "sms-marketing-backend"');
  });

  it('matches one spelling only (EXACT_ROUTING)', async () => {
    expect((await request(app).get('/APP')).status).toBe(404);
    expect((await request(app).get(`/app/Assets/${anAsset('.js')}`)).status).toBe(404);
    expect((await request(app).get('/app/campaigns/')).status).toBe(200); // a page: the app shows its not-found page
  });
});

describe('development sign-in (NODE_ENV != production)', () => {
  it('mints a short session token the api accepts for the shop', async () => {
    const res = await request(app).get('/app/dev-login/token?shop=dev-shop.myshopify.com');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const { payload } = await jwtVerify(res.body.token, new TextEncoder().encode(env.config.SHOPIFY_API_SECRET), { audience: env.config.SHOPIFY_API_KEY });
    expect(payload.dest).toBe('https://dev-shop.myshopify.com');
    expect(payload.exp! - payload.iat!).toBe(60);
    const shop = await request(app).get('/api/shop').set('Authorization', `Bearer ${res.body.token}`);
    expect(shop.status).toBe(200);
    expect(shop.body.domain).toBe('dev-shop.myshopify.com');
  });

  it('refuses a shop that is not a myshopify.com host', async () => {
    expect((await request(app).get('/app/dev-login/token?shop=evil.example.com')).status).toBe(404);
    expect((await request(app).get('/app/dev-login/token')).status).toBe(404);
    expect((await request(app).get('/app/dev-login?shop=%3Cscript%3E.myshopify.com')).status).toBe(404);
  });

  it('the sign-in page opens the admin for the shop', async () => {
    const res = await request(app).get('/app/dev-login?shop=dev-shop.myshopify.com');
    expect(res.status).toBe(200);
    expect(res.text).toContain("location.replace('/app?shop='");
    // A real session token still works alongside (the page changes nothing server-side).
    const api = await request(app).get('/api/wallet').set('Authorization', `Bearer ${await sessionToken('dev-shop.myshopify.com')}`);
    expect(api.status).toBe(200);
  });
});
