import type { Express } from 'express';
import request from 'supertest';
import { createContactsBulk, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';

// The attack: the preview's send timing of a large audience is now kept and
// shared (lib/scan-throttle.ts). Two shops whose campaigns define the same
// audience (every subscribed contact, same smart-sending window) would share
// one kept pass if the key did not carry the shop: the second shop's preview
// would show the first shop's audience figures. The key carries the shop id,
// and another shop's campaign id is 404 before anything kept is read.

describe("one shop's kept preview pass answering another shop", () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const preview = async (domain: string, campaignId: string) =>
    request(app).post(`/api/campaigns/${campaignId}/preview`).set('Authorization', `Bearer ${await sessionToken(domain)}`).send({});

  it('never happens: each shop previews its own audience, and another shop\'s campaign is 404', async () => {
    // Past the throttle's 10 000 rows, so the first pass is kept.
    const big = await createShop(env.db);
    await createContactsBulk(env.db, big.id, 12_000);
    const small = await createShop(env.db);
    await createContactsBulk(env.db, small.id, 10_500, { startAt: 50_000 });
    for (const s of [big, small]) await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = true WHERE id = ${s.id}::uuid`;
    const draft = async (shopId: string) =>
      (await env.db.$queryRaw<{ id: string }[]>`INSERT INTO campaigns (shop_id, name, body) VALUES (${shopId}::uuid, 'Sale', 'Sale today') RETURNING id`)[0]!;
    const a = await draft(big.id);
    const b = await draft(small.id);

    // 3 000 of the big shop's contacts were texted just now: its figures differ from the small shop's.
    await env.db.$executeRaw`
      INSERT INTO contact_send_slots (contact_id, shop_id, last_at)
      SELECT id, shop_id, now() FROM contacts WHERE shop_id = ${big.id}::uuid ORDER BY id LIMIT 3000`;

    const first = await preview(big.domain, a.id);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ recipients: 12_000, frequencyCapped: 3_000, recipientsAfterCap: 9_000 });
    const second = await preview(small.domain, b.id);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ recipients: 10_500, frequencyCapped: 0, recipientsAfterCap: 10_500 });

    const foreign = await preview(small.domain, a.id);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
  });
});
