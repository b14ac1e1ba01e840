import request from 'supertest';
import { checkoutStripeKey } from '../../../../domain/billing/create-checkout';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop } from '../../../../test/factories';
import { startFakeStripe, type FakeStripe } from '../../../../test/fakes/stripe-server';
import { sessionToken } from '../../../../test/session-token';
import type { Express } from 'express';

describe('billing: packs and checkout', () => {
  let env: TestEnv;
  let stripe: FakeStripe;
  let app: Express;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    env = await createTestEnv({ STRIPE_API_BASE: stripe.url, PUBLIC_BASE_URL: 'https://app.example.test/' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
    await stripe.close();
  });

  const auth = async (domain: string) => `Bearer ${await sessionToken(domain)}`;

  it('GET /api/billing/packs lists the default packs', async () => {
    const shop = await createShop(env.db);
    const res = await request(app).get('/api/billing/packs').set('Authorization', await auth(shop.domain));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      data: [
        { id: 'starter', credits: 1000, amount: 1000, currency: 'usd' },
        { id: 'growth', credits: 10000, amount: 8000, currency: 'usd' },
        { id: 'scale', credits: 100000, amount: 60000, currency: 'usd' },
      ],
    });
  });

  it('CREDIT_PACKS replaces the defaults', async () => {
    const custom = await createTestEnv({ CREDIT_PACKS: JSON.stringify([{ id: 'tiny', credits: 10, amount: 99, currency: 'EUR' }]) });
    try {
      const { app: customApp } = await custom.api();
      const shop = await createShop(custom.db);
      const res = await request(customApp).get('/api/billing/packs').set('Authorization', await auth(shop.domain));
      expect(res.body).toEqual({ data: [{ id: 'tiny', credits: 10, amount: 99, currency: 'eur' }] });
    } finally {
      await custom.close();
    }
  });

  it('creates a Checkout Session with its own Stripe idempotency key and records a pending purchase', async () => {
    const shop = await createShop(env.db);
    const res = await request(app)
      .post('/api/billing/checkout')
      .set('Authorization', await auth(shop.domain))
      .set('Idempotency-Key', 'buy-growth-1')
      .send({ packId: 'growth' });
    expect(res.status).toBe(201);
    expect(res.headers['x-idempotency-stored']).toBe('true');
    expect(res.body).toEqual({ checkoutUrl: expect.stringMatching(/^https:\/\/checkout\.stripe\.test\//), sessionId: expect.stringMatching(/^cs_test_/) });

    const call = stripe.requests.find((r) => r.path === '/v1/checkout/sessions' && r.params.client_reference_id === shop.id);
    expect(call?.authorization).toBe(`Bearer ${env.config.STRIPE_SECRET_KEY}`);
    const [mapping] = await env.db.$queryRaw<{ stripe_customer_id: string }[]>`SELECT stripe_customer_id FROM stripe_customers WHERE shop_id = ${shop.id}::uuid`;
    expect(call?.idempotencyKey).toBe(checkoutStripeKey(shop.id, 'buy-growth-1', mapping!.stripe_customer_id));
    expect(call?.params).toMatchObject({
      mode: 'payment',
      customer: mapping!.stripe_customer_id,
      client_reference_id: shop.id,
      metadata: { shopId: shop.id, packId: 'growth' },
      payment_intent_data: { metadata: { shopId: shop.id, packId: 'growth' } },
      line_items: [{ quantity: '1', price_data: { currency: 'usd', unit_amount: '8000' } }],
      // Back to the app's Billing page inside the shop's admin (application_url + /billing), where the balance shows.
      success_url: `https://${shop.domain}/admin/apps/${env.config.SHOPIFY_API_KEY}/billing?checkout=success`,
      cancel_url: `https://${shop.domain}/admin/apps/${env.config.SHOPIFY_API_KEY}/billing?checkout=cancelled`,
    });
    const customerCall = stripe.requests.find((r) => r.path === '/v1/customers' && (r.params.metadata as Record<string, string>)?.shopId === shop.id);
    expect(customerCall?.idempotencyKey).toBe(`customer-${shop.id}`);

    const purchases = await env.db.$queryRaw<{ stripe_session_id: string; status: string; credits: number; amount: number; currency: string; pack_id: string }[]>`
      SELECT stripe_session_id, status, credits, amount, currency, pack_id FROM purchases WHERE shop_id = ${shop.id}::uuid`;
    expect(purchases).toEqual([{ stripe_session_id: res.body.sessionId, status: 'pending', credits: 10000, amount: 8000, currency: 'usd', pack_id: 'growth' }]);
  });

  it('Stripe returns the merchant to a page that exists: no redirect target of a session is a 404 of ours', async () => {
    const shop = await createShop(env.db);
    const res = await request(app)
      .post('/api/billing/checkout')
      .set('Authorization', await auth(shop.domain))
      .set('Idempotency-Key', 'buy-and-return')
      .send({ packId: 'starter' });
    expect(res.status).toBe(201);
    const session = stripe.sessions.find((s) => s.id === res.body.sessionId) as { success_url: string; cancel_url: string };
    for (const target of [session.success_url, session.cancel_url]) {
      const url = new URL(target);
      if (url.origin === new URL(env.config.PUBLIC_BASE_URL).origin) {
        // A page of ours: it must be served.
        expect((await request(app).get(`${url.pathname}${url.search}`)).status).toBe(200);
      } else {
        // The shop's own admin, opening this app (client id) on its Billing page.
        expect(url.origin).toBe(`https://${shop.domain}`);
        expect(url.pathname).toBe(`/admin/apps/${env.config.SHOPIFY_API_KEY}/billing`);
      }
    }
  });

  it('a Stripe customer that no longer exists (deleted, or the account or mode changed) is replaced, not a 500 on every checkout', async () => {
    const shop = await createShop(env.db);
    // A mapping left from another Stripe account or mode: this Stripe never heard of it.
    await env.db.$executeRaw`INSERT INTO stripe_customers (shop_id, stripe_customer_id) VALUES (${shop.id}::uuid, 'cus_from_test_mode')`;
    const buy = async (key: string) =>
      request(app).post('/api/billing/checkout').set('Authorization', await auth(shop.domain)).set('Idempotency-Key', key).send({ packId: 'starter' });
    const first = await buy('after-switch-1');
    expect(first.status).toBe(201);
    const [mapping] = await env.db.$queryRaw<{ stripe_customer_id: string }[]>`SELECT stripe_customer_id FROM stripe_customers WHERE shop_id = ${shop.id}::uuid`;
    expect(mapping!.stripe_customer_id).not.toBe('cus_from_test_mode');
    expect(stripe.customers.map((c) => c.id)).toContain(mapping!.stripe_customer_id);
    const session = stripe.sessions.find((s) => s.id === first.body.sessionId);
    expect(session).toMatchObject({ customer: mapping!.stripe_customer_id });
    // The next checkout uses the new customer straight away; each records its pending purchase.
    const second = await buy('after-switch-2');
    expect(second.status).toBe(201);
    expect(stripe.sessions.find((s) => s.id === second.body.sessionId)).toMatchObject({ customer: mapping!.stripe_customer_id });
    const [count] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM purchases WHERE shop_id = ${shop.id}::uuid AND status = 'pending'`;
    expect(Number(count!.n)).toBe(2);
  });

  it('a replay with the same key returns the same session without calling Stripe again', async () => {
    const shop = await createShop(env.db);
    const send = async () =>
      request(app).post('/api/billing/checkout').set('Authorization', await auth(shop.domain)).set('Idempotency-Key', 'same-key').send({ packId: 'starter' });
    const first = await send();
    const calls = stripe.requests.length;
    const second = await send();
    expect(second.status).toBe(201);
    expect(second.headers['x-idempotency-replay']).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(stripe.requests.length).toBe(calls);
  });

  it('concurrent first checkouts of a shop create exactly one Stripe customer mapping', async () => {
    const shop = await createShop(env.db);
    const token = await auth(shop.domain);
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        request(app).post('/api/billing/checkout').set('Authorization', token).set('Idempotency-Key', `concurrent-${i}`).send({ packId: 'starter' }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(201));
    const mappings = await env.db.$queryRaw<{ stripe_customer_id: string }[]>`SELECT stripe_customer_id FROM stripe_customers WHERE shop_id = ${shop.id}::uuid`;
    expect(mappings).toHaveLength(1);
    expect(stripe.customers.filter((c) => (c.metadata as Record<string, string>).shopId === shop.id)).toHaveLength(1);
    const customers = new Set(
      stripe.requests.filter((r) => r.path === '/v1/checkout/sessions' && r.params.client_reference_id === shop.id).map((r) => r.params.customer),
    );
    expect([...customers]).toEqual([mappings[0]!.stripe_customer_id]);
    const [count] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM purchases WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(count!.n)).toBe(8);
  });

  it('requires an Idempotency-Key and a known pack, and touches nothing otherwise', async () => {
    const shop = await createShop(env.db);
    const token = await auth(shop.domain);
    const noKey = await request(app).post('/api/billing/checkout').set('Authorization', token).send({ packId: 'starter' });
    expect(noKey.status).toBe(400);
    expect(noKey.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    const unknown = await request(app).post('/api/billing/checkout').set('Authorization', token).set('Idempotency-Key', 'k-unknown').send({ packId: 'gold' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'packId' }] });
    const [count] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM purchases WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(count!.n)).toBe(0);
  });

  it('Stripe unreachable is 503 DEPENDENCY_UNAVAILABLE and records no purchase', async () => {
    const down = await createTestEnv({ STRIPE_API_BASE: 'http://127.0.0.1:1' });
    try {
      const { app: downApp } = await down.api();
      const shop = await createShop(down.db);
      const res = await request(downApp)
        .post('/api/billing/checkout')
        .set('Authorization', await auth(shop.domain))
        .set('Idempotency-Key', 'k-down')
        .send({ packId: 'starter' });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
      const [count] = await down.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM purchases`;
      expect(Number(count!.n)).toBe(0);
    } finally {
      await down.close();
    }
  });
});
