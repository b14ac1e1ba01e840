import type { Express } from 'express';
import request from 'supertest';
import type { ApiDeps } from '../../apps/api/src/deps';
import { dispatchOutbox } from '../../domain/outbox/outbox';
import { testPhone } from '../factories';
import { startFakeShopify, type FakeShopify } from '../fakes/shopify-server';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { installShop } from '../shopify';
import { postSimulator, rid } from '../webhooks';

// Attack: the person texted STOP, then the store (a merchant's edit, another
// app, a stale import in Shopify) still says SUBSCRIBED, newer than our last
// sync. A resync must not make the number sendable again: a local opt-out is
// never lifted by Shopify, whatever the times say.

describe('a Shopify resync cannot lift a STOP', () => {
  let fake: FakeShopify;
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;

  beforeAll(async () => {
    fake = await startFakeShopify();
    env = await createTestEnv({ SHOPIFY_INSTALL_BY_EXCHANGE: 'true', SHOPIFY_SYNC_ON_INSTALL: 'true', SHOPIFY_ADMIN_API_BASE: fake.url, SHOP_CACHE_TTL_MS: '0' });
    ({ app, deps: api } = await env.api());
    await env.worker({ queues: ['shopify', 'webhooks'] });
  });

  afterAll(async () => {
    await env?.close();
    await fake?.close();
  });

  const contact = async (shopId: string, phone: string) =>
    (await env.db.$queryRaw<{ id: string; sms_consent: string; opt_out_source: string | null; opted_out_at: Date | null }[]>`
      SELECT id, sms_consent, opt_out_source, opted_out_at FROM contacts WHERE shop_id = ${shopId}::uuid AND phone_e164 = ${phone}`)[0];
  async function resynced(domain: string, shopId: string): Promise<void> {
    const res = await request(app).post('/api/shop/sync').set('Authorization', `Bearer ${await sessionToken(domain)}`).send({});
    expect(res.status).toBe(202);
    await waitFor('resync completed', async () => {
      await dispatchOutbox(env.db, api.producer);
      const [s] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shop_syncs WHERE id = ${res.body.id as string}::uuid`;
      return s?.status === 'completed';
    });
    expect((await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM shop_syncs WHERE shop_id = ${shopId}::uuid AND status = 'failed'`)[0]!.n).toBe(0);
  }

  it('the number stays opted out (source keyword), suppressed, with no consent record of the sync', async () => {
    const domain = `stop-resync-${Date.now()}.myshopify.com`;
    const phone = testPhone();
    const customerId = 'gid://shopify/Customer/777001';
    const subscribed = (at: Date) => ({ marketingState: 'SUBSCRIBED' as const, marketingOptInLevel: 'SINGLE_OPT_IN' as const, consentUpdatedAt: at.toISOString(), consentCollectedFrom: 'OTHER' });
    fake.seedCustomers(domain, [{ id: customerId, phone, firstName: 'Sam', updatedAt: new Date(Date.now() - 3_600_000).toISOString(), smsMarketingConsent: subscribed(new Date(Date.now() - 3_600_000)) }]);
    const shopId = await installShop(app, env.db, domain);
    await waitFor('install sync', async () => {
      await dispatchOutbox(env.db, api.producer);
      return (await contact(shopId, phone))?.sms_consent === 'subscribed';
    });

    const sender = `1203777${String(Date.now() % 10_000).padStart(4, '0')}`;
    expect((await request(app).patch('/api/shop').set('Authorization', `Bearer ${await sessionToken(domain)}`).send({ senderId: sender })).status).toBe(200);
    expect((await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'STOP', timestamp: new Date().toISOString() })).status).toBe(200);
    await waitFor('STOP applied', async () => (await contact(shopId, phone))?.opt_out_source === 'keyword');
    const stopped = (await contact(shopId, phone))!;
    // Whatever the write-back did, the store says SUBSCRIBED again, later than everything we applied.
    await dispatchOutbox(env.db, api.producer);
    await waitFor('write-back done', async () => (await env.db.$queryRaw<{ status: string }[]>`
      SELECT status FROM shopify_consent_writebacks WHERE contact_id = ${stopped.id}::uuid`)[0]?.status === 'done');
    const c = fake.customers(domain)[0]!;
    c.updatedAt = new Date().toISOString();
    c.smsMarketingConsent = subscribed(new Date());
    const records = (await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM contact_consent_records WHERE contact_id = ${stopped.id}::uuid`)[0]!.n;

    await resynced(domain, shopId);

    expect(await contact(shopId, phone)).toMatchObject({ sms_consent: 'unsubscribed', opt_out_source: 'keyword', opted_out_at: stopped.opted_out_at });
    expect((await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM contact_consent_records WHERE contact_id = ${stopped.id}::uuid`)[0]!.n).toBe(records);
    const [suppressed] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sms_suppressions WHERE shop_id = ${shopId}::uuid`;
    expect(suppressed!.n).toBeGreaterThan(0);
  });
});
