import type { Express } from 'express';
import request from 'supertest';
import type { ApiDeps } from '../../apps/api/src/deps';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { dispatchOutbox } from '../../domain/outbox/outbox';
import { createContact, testPhone } from '../factories';
import { startFakeShopify, type FakeShopify } from '../fakes/shopify-server';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { installShop } from '../shopify';
import { counterValue, postSimulator, rid } from '../webhooks';

// The attack: a person texts STOP and then asks to be erased (or the merchant
// deletes the contact) before the consent write-back has run. The queued job
// must not carry anything of the erased person to the store: it reads the
// contact when it runs, finds it gone, and writes nothing.

describe('a consent write-back of a contact erased meanwhile', () => {
  let fake: FakeShopify;
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let worker: WorkerDeps;

  beforeAll(async () => {
    fake = await startFakeShopify();
    env = await createTestEnv({ SHOPIFY_INSTALL_BY_EXCHANGE: 'true', SHOPIFY_ADMIN_API_BASE: fake.url, SHOP_CACHE_TTL_MS: '0' });
    ({ app, deps: api } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['shopify'] }));
  });
  afterAll(async () => {
    await env?.close();
    await fake?.close();
  });

  it('sends nothing to Shopify', async () => {
    const domain = `erased-wb-${Date.now()}.myshopify.com`;
    const shopId = await installShop(app, env.db, domain);
    const auth = `Bearer ${await sessionToken(domain)}`;
    const sender = `1204555${String(Date.now() % 10_000).padStart(4, '0')}`;
    expect((await request(app).patch('/api/shop').set('Authorization', auth).send({ senderId: sender })).status).toBe(200);
    const phone = testPhone();
    const customerId = 'gid://shopify/Customer/77';
    fake.seedCustomers(domain, [{ id: customerId, phone, smsMarketingConsent: { marketingState: 'SUBSCRIBED' } }]);
    const { id: contactId } = await createContact(env.db, shopId, { phone });
    await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${customerId} WHERE id = ${contactId}::uuid`;

    expect((await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'STOP', timestamp: new Date().toISOString() })).status).toBe(200);
    const [queued] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'contact.consent-writeback.v1' AND aggregate_id = ${contactId} AND published_at IS NULL`;
    expect(queued?.n).toBe(1);
    expect((await request(app).delete(`/api/contacts/${contactId}`).set('Authorization', auth)).status).toBe(204);

    const skipped = await counterValue(worker.metrics, 'shopifyConsentWritebacks', { outcome: 'skipped' });
    expect(await dispatchOutbox(env.db, api.producer)).toBe(1);
    await waitFor('write-back job ran', async () => (await counterValue(worker.metrics, 'shopifyConsentWritebacks', { outcome: 'skipped' })) === skipped + 1);
    expect(fake.consentUpdates.filter((u) => u.shop === domain)).toEqual([]);
    expect(fake.graphqlCalls.filter((c) => c.shop === domain && /customerSmsMarketingConsentUpdate/.test(c.query))).toEqual([]);
  });
});
