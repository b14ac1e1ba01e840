import type { Express } from 'express';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliverShopify } from '../webhooks';

// The attack (or the accident): app/uninstalled cancels every campaign the
// shop has, drafts included, and from then on the shop is refused 401. But
// an api process remembers a shop's status for SHOP_CACHE_TTL_MS (up to a
// minute), and a request already past session auth is not stopped: a
// campaign created after the uninstall's sweep could still be enqueued, and
// the worker then texted the whole audience of an uninstalled shop and
// charged its credits. Now the enqueue itself refuses a shop that is not
// installed (409 INVALID_STATE), writing nothing.
describe('a campaign enqueued after its shop was uninstalled', () => {
  let env: TestEnv;
  let app: Express;
  let shop: ShopFixture;

  beforeAll(async () => {
    // A long memory of the shop's status, as an operator may configure it: the window is then deterministic here.
    env = await createTestEnv({ SHOP_CACHE_TTL_MS: '60000' });
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
    shop = await createShop(env.db, { credits: 1_000 });
    await createContact(env.db, shop.id);
    await createContact(env.db, shop.id);
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async () => `Bearer ${await sessionToken(shop.domain)}`;

  it('is refused, and nothing is queued or reserved', async () => {
    expect((await request(app).get('/api/shop').set('Authorization', await auth())).status).toBe(200);
    expect(await deliverShopify(app, env.db, 'app/uninstalled', { id: 1, domain: shop.domain, myshopify_domain: shop.domain }, shop.domain)).toBe('processed');

    // This process still remembers the shop as installed: the draft is created after the uninstall's sweep.
    const created = await request(app).post('/api/campaigns').set('Authorization', await auth()).send({ name: 'After uninstall', body: 'Hi {{firstName|there}}' });
    expect(created.status).toBe(201);

    const enqueued = await request(app)
      .post(`/api/campaigns/${created.body.id}/enqueue`)
      .set('Authorization', await auth())
      .set('Idempotency-Key', 'enqueue-after-uninstall')
      .send({});
    expect({ status: enqueued.status, code: enqueued.body.error?.code }).toEqual({ status: 409, code: 'INVALID_STATE' });

    const [campaign] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${created.body.id}::uuid`;
    expect(campaign?.status).toBe('draft');
    expect(await env.db.$queryRaw<unknown[]>`SELECT 1 FROM credit_reservations WHERE campaign_id = ${created.body.id}::uuid`).toHaveLength(0);
    expect(await env.db.$queryRaw<unknown[]>`SELECT 1 FROM outbox_events WHERE aggregate_id = ${created.body.id}`).toHaveLength(0);
    const [wallet] = await env.db.$queryRaw<{ reserved: bigint }[]>`SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(wallet?.reserved)).toBe(0);

    // The shop really is uninstalled: a process that does not remember it answers 401.
    const { app: fresh } = await env.api();
    expect((await request(fresh).get('/api/shop').set('Authorization', await auth())).status).toBe(401);
  });
});
