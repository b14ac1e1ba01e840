import type { Express } from 'express';
import request from 'supertest';
import { createShop } from '../../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { sessionToken } from '../../../../test/session-token';

// Revenue per message and per credit as GET /api/campaigns/:id/stats gives
// them: exact decimal text, rounded half up at two digits past the
// currency's own (docs/api.md, "Stats").

describe('GET /api/campaigns/:id/stats: revenue per message and per credit', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  it('10.03 USD over 8 messages and 8 credits is 1.2538 each (1.25375, half up)', async () => {
    const shop = await createShop(env.db);
    const [c] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status, started_at, completed_at)
      VALUES (${shop.id}::uuid, 'Per message', 'Sale https://shop.example.com/s', 'completed', now() - interval '2 hours', now() - interval '1 hour')
      RETURNING id`;
    const campaignId = c!.id;
    await env.db.$executeRaw`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
      SELECT ${campaignId}::uuid, gen_random_uuid(), 0, 'delivered', 'pm-' || gen_random_uuid(), 1, now() - interval '2 hours', now() - interval '2 hours'
        FROM generate_series(1, 8)`;
    await env.db.$executeRaw`
      INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount, consumed, released, status)
      VALUES (${shop.id}::uuid, ${campaignId}::uuid, ${`campaign:${campaignId}`}, 8, 8, 0, 'closed')`;
    await env.db.$executeRaw`
      INSERT INTO order_attributions (shop_id, order_id, campaign_id, kind, total_minor, currency, ordered_at)
      VALUES (${shop.id}::uuid, 'order-per-message', ${campaignId}::uuid, 'view', 1003, 'USD', now())`;

    const res = await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ messagesSent: 8, creditsDebited: 8, attributedOrders: 1 });
    expect(res.body.attributedRevenue).toEqual([{ currency: 'USD', orders: 1, amount: '10.03', perMessage: '1.2538', perCredit: '1.2538' }]);
  });
});
