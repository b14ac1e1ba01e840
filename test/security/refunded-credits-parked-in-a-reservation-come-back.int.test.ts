import type { Express } from 'express';
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { createCampaign, createContact, createShop, grantCredits, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { disputeObject, postStripe, rid, sessionObject, stripeEvent, wallet, stripeEventSettled } from '../webhooks';

// The attack: a refund (or a chargeback the merchant files and wins, i.e. a
// lost dispute for us) never takes credits that campaigns hold, so the
// merchant parks a pack's credits in a campaign scheduled for months ahead,
// gets the money back, and cancels the campaign: the clawback took nothing
// (refund_shortfall, an alert) and the cancel gave every refunded credit back
// to spend. Now a release of a reservation that already held credits when
// the refund came pays the purchase's shortfall first (ledger key
// `refund-<session>-rest-<shortfall before>`); a reservation made after the
// refund (credits bought since) owes it nothing.

describe('refunded credits parked in a campaign reservation', () => {
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

  const settled = (eventId: string): Promise<string> => stripeEventSettled(env.db, eventId);
  const api = async (shop: ShopFixture, path: string) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send({});
  const scheduledCampaign = async (shop: ShopFixture) => {
    const c = await createCampaign(env.db, shop.id, { body: 'Sale {{shopName}}', scheduledAt: new Date(Date.now() + 90 * 24 * 3600_000) });
    const res = await api(shop, `/api/campaigns/${c.id}/enqueue`);
    expect(res.status).toBe(202);
    expect(res.body.campaign.status).toBe('scheduled');
    return { id: c.id, reserved: res.body.creditsReserved as number };
  };

  it('a lost dispute while the pack is held for a scheduled campaign: cancelling it pays the shortfall, not the merchant', async () => {
    const shop = await createShop(env.db);
    for (let i = 0; i < 40; i++) await createContact(env.db, shop.id);
    // The pack, bought through Stripe: 1 000 credits.
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    const pi = rid('pi');
    const paid = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }));
    await postStripe(app, paid);
    expect(await settled(paid.id as string)).toBe('processed');

    // Parked: a campaign three months out holds part of it.
    const parked = await scheduledCampaign(shop);
    expect(parked.reserved).toBeGreaterThan(0);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: parked.reserved });

    // The chargeback is lost: the clawback takes only what is not held.
    const lost = stripeEvent('charge.dispute.closed', disputeObject(pi, 'lost'));
    await postStripe(app, lost);
    expect(await settled(lost.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: parked.reserved, reserved: parked.reserved });

    // Credits bought after the refund, held by a campaign enqueued after it: they owe the refund nothing.
    await grantCredits(env.db, shop.id, 500);
    const later = await scheduledCampaign(shop);
    expect((await api(shop, `/api/campaigns/${later.id}/cancel`)).status).toBe(200);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: parked.reserved + 500, reserved: parked.reserved });

    // The parked campaign cancelled: what it held goes to the shortfall, not back to the merchant.
    expect((await api(shop, `/api/campaigns/${parked.id}/cancel`)).status).toBe(200);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 500, reserved: 0 });
    const [p] = await env.db.$queryRaw<{ status: string; refund_shortfall: bigint }[]>`
      SELECT status, refund_shortfall FROM purchases WHERE stripe_session_id = ${sessionId}`;
    expect(p).toEqual({ status: 'refunded', refund_shortfall: 0n });
    const refunds = await env.db.$queryRaw<{ idempotency_key: string; amount: bigint }[]>`
      SELECT idempotency_key, amount FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND type = 'refund' ORDER BY ledger_seq`;
    expect(refunds).toEqual([
      { idempotency_key: `refund-${sessionId}`, amount: BigInt(parked.reserved - 1000) },
      { idempotency_key: `refund-${sessionId}-rest-${parked.reserved}`, amount: BigInt(-parked.reserved) },
    ]);
    // The ledger still equals the wallet: Σ = 1 000 + 500 − 1 000.
    const [sum] = await env.db.$queryRaw<{ total: bigint }[]>`SELECT sum(amount) AS total FROM credit_transactions WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(sum!.total)).toBe(500);
  });
});
