import type { Express } from 'express';
import request from 'supertest';
import type { ApiDeps } from '../apps/api/src/deps';
import type { WorkerDeps } from '../apps/worker/src/deps';
import { declareConsentSource } from '../domain/consent/consent-source';
import { dispatchOutbox } from '../domain/outbox/outbox';
import { writeBackConsent } from '../domain/consent/write-back-consent';
import { runOps } from '../scripts/ops/cli';
import { createContact, testPhone } from './factories';
import { startFakeShopify, type FakeShopify } from './fakes/shopify-server';
import { createTestEnv, type TestEnv } from './harness';
import { waitFor } from './sending';
import { sessionToken } from './session-token';
import { installShop } from './shopify';
import { counterValue, postSimulator, rid } from './webhooks';

// Consent changed here (STOP/START, the API) is written back to the Shopify
// customer through the outbox: once per change, retried on 5xx, a refusal
// kept as `failed` (metric, ops command); changes from Shopify are not echoed.

describe('consent written back to Shopify', () => {
  let fake: FakeShopify;
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let worker: WorkerDeps;
  let seq = 0;
  let customerNo = 1000;

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

  interface Setup { domain: string; shopId: string; contactId: string; phone: string; sender: string; customerId: string }

  /** An installed shop with its own sender, and a subscribed contact that is a Shopify customer (known to the fake unless `unknownToShopify`). */
  async function setup(o: { unknownToShopify?: boolean } = {}): Promise<Setup> {
    const domain = `writeback-${Date.now()}-${seq++}.myshopify.com`;
    const shopId = await installShop(app, env.db, domain);
    const sender = `1203555${String((Date.now() + seq) % 10_000).padStart(4, '0')}`;
    const patched = await request(app).patch('/api/shop').set('Authorization', `Bearer ${await sessionToken(domain)}`).send({ senderId: sender });
    expect(patched.status).toBe(200);
    const phone = testPhone();
    const customerId = `gid://shopify/Customer/${customerNo++}`;
    if (!o.unknownToShopify) {
      fake.seedCustomers(domain, [{ id: customerId, phone, smsMarketingConsent: { marketingState: 'SUBSCRIBED', marketingOptInLevel: 'SINGLE_OPT_IN' } }]);
    }
    const { id: contactId } = await createContact(env.db, shopId, { phone });
    await env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${customerId} WHERE id = ${contactId}::uuid`;
    return { domain, shopId, contactId, phone, sender, customerId };
  }

  const sms = (s: Setup, text: string) =>
    postSimulator(app, 'inbound', { id: rid('in'), from: s.phone, to: s.sender, text, timestamp: new Date().toISOString() });
  const writeback = async (contactId: string) =>
    (await env.db.$queryRaw<{ status: string; attempts: number; written_state: string | null; last_error: string | null }[]>`
      SELECT status, attempts, written_state, last_error FROM shopify_consent_writebacks WHERE contact_id = ${contactId}::uuid`)[0];
  const events = async (contactId: string) =>
    (await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'contact.consent-writeback.v1' AND aggregate_id = ${contactId}`)[0]!.n;
  const updatesOf = (s: Setup) => fake.consentUpdates.filter((u) => u.shop === s.domain);
  async function settled(contactId: string, status = 'done'): Promise<void> {
    await dispatchOutbox(env.db, api.producer);
    await waitFor(`write-back ${status}`, async () => (await writeback(contactId))?.status === status);
  }

  it('a STOP writes UNSUBSCRIBED once; a replayed STOP writes nothing; a START writes SUBSCRIBED (single opt-in)', async () => {
    const s = await setup();
    expect((await sms(s, 'STOP')).status).toBe(200);
    await settled(s.contactId);
    expect(updatesOf(s)).toEqual([
      { shop: s.domain, customerId: s.customerId, smsMarketingConsent: expect.objectContaining({ marketingState: 'UNSUBSCRIBED' }) },
    ]);
    expect(fake.customers(s.domain)[0]!.smsMarketingConsent?.marketingState).toBe('UNSUBSCRIBED');
    expect(await writeback(s.contactId)).toMatchObject({ status: 'done', written_state: 'UNSUBSCRIBED', attempts: 1 });

    // The same opt-out again changes nothing here, so nothing is queued for
    // Shopify (its confirmation text is an outbox event too, of another type:
    // counting every unpublished event would race with its publication).
    expect((await sms(s, 'stop')).status).toBe(200);
    expect(await events(s.contactId)).toBe(1);
    await dispatchOutbox(env.db, api.producer);
    expect(await writeback(s.contactId)).toMatchObject({ status: 'done', written_state: 'UNSUBSCRIBED', attempts: 1 });
    expect(updatesOf(s)).toHaveLength(1);

    expect((await sms(s, 'START')).status).toBe(200);
    expect(await events(s.contactId)).toBe(2);
    await dispatchOutbox(env.db, api.producer);
    await waitFor('second write-back', () => updatesOf(s).length === 2);
    expect(updatesOf(s)[1]!.smsMarketingConsent).toMatchObject({ marketingState: 'SUBSCRIBED', marketingOptInLevel: 'SINGLE_OPT_IN' });
    await waitFor('write-back done', async () => (await writeback(s.contactId))?.status === 'done');
    expect(updatesOf(s)).toHaveLength(2);
  });

  it('an API opt-out that meets a Shopify 5xx is retried and written once', async () => {
    const s = await setup();
    const retried = await counterValue(worker.metrics, 'shopifyConsentWritebacks', { outcome: 'retried' });
    fake.failNext('server_error', { shop: s.domain });
    const res = await request(app).patch(`/api/contacts/${s.contactId}`).set('Authorization', `Bearer ${await sessionToken(s.domain)}`).send({ smsConsent: 'unsubscribed' });
    expect(res.status).toBe(200);
    await settled(s.contactId);
    expect(updatesOf(s)).toHaveLength(1);
    expect(updatesOf(s)[0]!.smsMarketingConsent).toMatchObject({ marketingState: 'UNSUBSCRIBED' });
    expect(await writeback(s.contactId)).toMatchObject({ status: 'done', attempts: 2 });
    expect(await counterValue(worker.metrics, 'shopifyConsentWritebacks', { outcome: 'retried' })).toBe(retried + 1);
  });

  it('a throttled write-back waits for Shopify\'s bucket without spending an attempt, then is written once', async () => {
    const s = await setup();
    fake.failNext('throttled', { shop: s.domain });
    expect((await sms(s, 'STOP')).status).toBe(200);
    await settled(s.contactId);
    expect(updatesOf(s)).toHaveLength(1);
    expect(await writeback(s.contactId)).toMatchObject({ status: 'done', written_state: 'UNSUBSCRIBED', attempts: 2 });
    const [job] = await worker.queues.get('shopify').getJobs(['completed']).then((jobs) => jobs.filter((j) => j.data.contactId === s.contactId));
    expect(job?.attemptsMade).toBe(1);
  });

  it('a write-back Shopify refuses (userErrors) is failed: metric and the ops command list it', async () => {
    const s = await setup({ unknownToShopify: true });
    const failed = await counterValue(worker.metrics, 'shopifyConsentWritebacks', { outcome: 'failed' });
    expect((await sms(s, 'STOP')).status).toBe(200);
    await settled(s.contactId, 'failed');
    expect((await writeback(s.contactId))!.last_error).toContain('Customer not found');
    expect(await counterValue(worker.metrics, 'shopifyConsentWritebacks', { outcome: 'failed' })).toBe(failed + 1);

    const out: string[] = [];
    const code = await runOps(['consent:writebacks', '--failed', '--shop', s.shopId, '--json'], {
      config: env.config, db: () => env.db, queues: () => api.queues, apiUrl: 'http://127.0.0.1:1', out: (t) => out.push(t),
    });
    expect(code).toBe(0);
    expect(JSON.parse(out.join('\n'))).toEqual([expect.objectContaining({ contact_id: s.contactId, status: 'failed', last_error: expect.stringContaining('Customer not found') })]);
  });

  it('an import chunk queues its Shopify customers set-based, in the statement that changes them', async () => {
    const a = await setup();
    const b = await setup();
    await env.db.$transaction(async (tx) => {
      await declareConsentSource(tx, { source: 'import', evidence: { importId: 'chunk-test' } });
      await tx.$executeRaw`UPDATE contacts SET sms_consent = 'unsubscribed' WHERE id = ANY(${[a.contactId, b.contactId]}::uuid[])`;
    });
    expect([await events(a.contactId), await events(b.contactId)]).toEqual([1, 1]);
    await dispatchOutbox(env.db, api.producer);
    await waitFor('both written', async () => (await writeback(a.contactId))?.status === 'done' && (await writeback(b.contactId))?.status === 'done');
    expect([...updatesOf(a), ...updatesOf(b)].map((u) => [u.customerId, u.smsMarketingConsent.marketingState])).toEqual([
      [a.customerId, 'UNSUBSCRIBED'],
      [b.customerId, 'UNSUBSCRIBED'],
    ]);
  });

  it('a STOP made while an older change is still being written ends UNSUBSCRIBED in Shopify, whichever write lands last', async () => {
    const s = await setup();
    const patch = async (smsConsent: string) =>
      request(app).patch(`/api/contacts/${s.contactId}`).set('Authorization', `Bearer ${await sessionToken(s.domain)}`).send({ smsConsent });
    const recordOf = async () => String((await env.db.$queryRaw<{ record_id: bigint }[]>`
      SELECT record_id FROM shopify_consent_writebacks WHERE contact_id = ${s.contactId}::uuid`)[0]!.record_id);
    expect((await patch('unsubscribed')).status).toBe(200);
    expect((await patch('subscribed')).status).toBe(200);
    const subscribed = await recordOf();

    // The merchant's SUBSCRIBED is in flight (read, sent, not yet applied by Shopify) when the person texts STOP.
    let reached: () => void = () => undefined;
    const inFlight = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.beforeConsentUpdate = async (shop, input) => {
      if (shop !== s.domain || (input.smsMarketingConsent as { marketingState?: string }).marketingState !== 'SUBSCRIBED') return;
      reached();
      await released;
    };
    try {
      const older = writeBackConsent(worker, { contactId: s.contactId, recordId: subscribed });
      await inFlight;
      expect((await sms(s, 'STOP')).status).toBe(200);
      const stop = await recordOf();
      expect(await writeBackConsent(worker, { contactId: s.contactId, recordId: stop })).toBe('written');
      fake.beforeConsentUpdate = null;
      release();
      await older;
    } finally {
      fake.beforeConsentUpdate = null;
      release();
    }
    expect(fake.customers(s.domain)[0]!.smsMarketingConsent?.marketingState).toBe('UNSUBSCRIBED');
    expect(updatesOf(s).at(-1)!.smsMarketingConsent).toMatchObject({ marketingState: 'UNSUBSCRIBED' });
  });

  it('a change that came from Shopify is not written back', async () => {
    const s = await setup();
    await env.db.$transaction(async (tx) => {
      await declareConsentSource(tx, { source: 'shopify', evidence: { consentCollectedFrom: 'SHOPIFY' } });
      await tx.$executeRaw`UPDATE contacts SET sms_consent = 'unsubscribed' WHERE id = ${s.contactId}::uuid`;
    });
    const [record] = await env.db.$queryRaw<{ source: string }[]>`SELECT source FROM contact_consent_records WHERE contact_id = ${s.contactId}::uuid`;
    expect(record?.source).toBe('shopify');
    expect(await events(s.contactId)).toBe(0);
    expect(await writeback(s.contactId)).toBeUndefined();
    expect(updatesOf(s)).toHaveLength(0);
  });
});
