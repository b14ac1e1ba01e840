import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';

// Attack: ask a production api for a session token through the admin's
// development sign-in (/app/dev-login/token?shop=victim.myshopify.com), then
// call /api as that shop. Closed: in production the sign-in routes do not
// exist (404, not even the admin's index.html), so no token is ever minted.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

it('production answers 404 to the development sign-in and its token endpoint', async () => {
  const { app } = await env.api({ config: { ...env.config, NODE_ENV: 'production' } });
  for (const url of ['/app/dev-login/token?shop=victim.myshopify.com', '/app/dev-login?shop=victim.myshopify.com', '/app/dev-login/anything']) {
    const res = await request(app).get(url);
    expect(res.status).toBe(404);
    expect(res.text).not.toMatch(/token|<div id="root">/);
  }
});

it('the same requests outside production are answered (the routes the attack would use)', async () => {
  const { app } = await env.api();
  const res = await request(app).get('/app/dev-login/token?shop=victim.myshopify.com');
  expect(res.status).toBe(200);
  expect(typeof res.body.token).toBe('string');
});
