import type { Express } from 'express';
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { createCampaign, createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { tableFingerprints } from '../table-fingerprints';
import { chargeObject, disputeObject, postStripe, rid, sessionObject, stripeEvent, wallet, webhookEvent } from '../webhooks';

// The attack: buy a pack, dispute the payment with the card issuer, and
// spend the credits before the dispute closes. Only a lost dispute took
// credits back, by then from a wallet already spent (a shortfall the
// platform eats). Now `charge.dispute.created` / `funds_withdrawn` hold the
// disputed credits (a reservation no campaign or flow can use) until
// `charge.dispute.closed`; a campaign that already held them gives them to
// the hold, not to the merchant, when cancelled. Only signed events move the
// hold, and repeated events move it once.

describe('a disputed pack spent before the dispute closes', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env.close();
  });

  async function deliver(event: Record<string, unknown>): Promise<string> {
    expect((await postStripe(app, event)).status).toBe(200);
    let status = '';
    await waitFor(`stripe event ${event.id as string} settled`, async () => {
      status = (await webhookEvent(env.db, 'stripe', event.id as string))?.status ?? '';
      return status !== '' && status !== 'received';
    });
    return status;
  }
  const api = async (shop: ShopFixture, method: 'get' | 'post', path: string) => {
    const req = request(app)[method](path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
    return method === 'post' ? req.set('Idempotency-Key', randomUUID()).send({}) : req;
  };
  async function boughtPack(shop: ShopFixture): Promise<{ sessionId: string; pi: string }> {
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    const pi = rid('pi');
    expect(await deliver(stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id })))).toBe('processed');
    return { sessionId, pi };
  }

  it('the disputed credits cannot be spent, a forged closing does not free them, and lost takes them once', async () => {
    const shop = await createShop(env.db);
    for (let i = 0; i < 5; i++) await createContact(env.db, shop.id);
    const { sessionId, pi } = await boughtPack(shop);
    const disputeId = rid('dp');

    // The chargeback opens; Stripe sends the opening and the withdrawal, the opening twice.
    for (const type of ['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.created']) {
      expect(await deliver(stripeEvent(type, disputeObject(pi, 'needs_response', { id: disputeId })))).toBe('processed');
    }
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });
    expect((await api(shop, 'get', '/api/wallet')).body).toEqual({ balance: 1000, reserved: 1000, available: 0, held: 1000 });

    // Spending them: refused.
    const c = await createCampaign(env.db, shop.id, { body: 'Sale {{shopName}}' });
    const spend = await api(shop, 'post', `/api/campaigns/${c.id}/enqueue`);
    expect(spend.status).toBe(402);
    expect(spend.body.error.code).toBe('INSUFFICIENT_CREDITS');

    // A closing that Stripe did not sign (wrong secret, or a signed body changed to `won`) frees nothing.
    const before = await tableFingerprints(env.db);
    const won = JSON.stringify(stripeEvent('charge.dispute.closed', disputeObject(pi, 'won', { id: disputeId })));
    expect((await postStripe(app, won, { secret: 'whsec_attacker' })).status).toBe(401);
    const lostBody = JSON.stringify(stripeEvent('charge.dispute.closed', disputeObject(pi, 'lost', { id: disputeId })));
    const signedLost = (await import('stripe')).default.webhooks.generateTestHeaderString({ payload: lostBody, secret: process.env.STRIPE_WEBHOOK_SECRET! });
    expect((await postStripe(app, lostBody.replace('"lost"', '"won"'), { header: signedLost })).status).toBe(401);
    expect(await tableFingerprints(env.db)).toEqual(before);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 1000 });

    // Lost, told twice, and the payment refunded too: the pack goes once, out of the hold.
    expect(await deliver(stripeEvent('charge.dispute.closed', disputeObject(pi, 'lost', { id: disputeId })))).toBe('processed');
    expect(await deliver(stripeEvent('charge.dispute.closed', disputeObject(pi, 'lost', { id: disputeId })))).toBe('processed');
    expect(await deliver(stripeEvent('charge.refunded', chargeObject(pi)))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    const rows = await env.db.$queryRaw<{ idempotency_key: string; amount: bigint }[]>`
      SELECT idempotency_key, amount FROM credit_transactions WHERE shop_id = ${shop.id}::uuid ORDER BY ledger_seq`;
    expect(rows).toEqual([
      { idempotency_key: `purchase-${sessionId}`, amount: 1000n },
      { idempotency_key: `refund-${sessionId}`, amount: -1000n },
    ]);
  });

  it('credits parked in a campaign before the dispute go to the hold when it is cancelled, not back to the merchant', async () => {
    const shop = await createShop(env.db);
    for (let i = 0; i < 40; i++) await createContact(env.db, shop.id);
    const { pi } = await boughtPack(shop);
    const c = await createCampaign(env.db, shop.id, { body: 'Sale {{shopName}}', scheduledAt: new Date(Date.now() + 90 * 24 * 3600_000) });
    const parked = await api(shop, 'post', `/api/campaigns/${c.id}/enqueue`);
    expect(parked.status).toBe(202);
    const reserved = parked.body.creditsReserved as number;
    expect(reserved).toBeGreaterThan(0);

    const disputeId = rid('dp');
    expect(await deliver(stripeEvent('charge.dispute.created', disputeObject(pi, 'needs_response', { id: disputeId })))).toBe('processed');
    expect((await api(shop, 'get', '/api/wallet')).body).toEqual({ balance: 1000, reserved: 1000, available: 0, held: 1000 - reserved });

    expect((await api(shop, 'post', `/api/campaigns/${c.id}/cancel`)).status).toBe(200);
    expect((await api(shop, 'get', '/api/wallet')).body).toEqual({ balance: 1000, reserved: 1000, available: 0, held: 1000 });
    const again = await createCampaign(env.db, shop.id, { body: 'Sale {{shopName}}' });
    expect((await api(shop, 'post', `/api/campaigns/${again.id}/enqueue`)).status).toBe(402);

    expect(await deliver(stripeEvent('charge.dispute.closed', disputeObject(pi, 'lost', { id: disputeId })))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
  });
});
