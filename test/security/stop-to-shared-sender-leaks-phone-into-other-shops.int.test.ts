import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { phoneHash } from '../../domain/contacts/phone';
import { recipientReference } from '../../domain/campaigns/render-batch';
import { createContact, createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { campaignStatus, disableQuietHours, SIM_API_KEY, startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { findEverywhere, postShopify, postSimulator, rid, webhookEvent } from '../webhooks';

// The attack: every new shop sends as the shared default sender `Marketing`.
// An inbound STOP to `Marketing` created a contact, with the phone number, in
// EVERY shop on that sender: one text (or one forged callback) put a
// stranger's number into the contact list of shops that had never seen it.
// Now a shop never gains a contact row or a readable number it did not
// already have: shops that hold the number as a contact have it opted out,
// and the opt-out itself is kept as an HMAC of the number (key PHONE_HASH_KEY)
// scoped to the sender, checked at send time, never listed or exported.

describe('an inbound STOP to a shared sender', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;

  beforeAll(async () => {
    let url: string;
    ({ sim, url } = await startSimulator());
    env = await createTestEnv({ SMS_PROVIDER: 'mitto', SMS_PROVIDER_URL: url, SMS_PROVIDER_API_KEY: SIM_API_KEY });
    ({ app } = await env.api());
    await env.worker({ queues: ['campaigns', 'sends', 'webhooks'] });
  });
  afterAll(async () => {
    await env.close();
    await sim.stop();
  });

  const auth = async (domain: string) => `Bearer ${await sessionToken(domain)}`;

  it('leaves the number out of every shop that did not have it, and still suppresses it there', async () => {
    const a = await createShop(env.db, { credits: 10 });
    const b = await createShop(env.db, { credits: 10 });
    await disableQuietHours(env.db, b.id);
    expect(env.config.SMS_DEFAULT_SENDER).toBe('Marketing');
    const phone = testPhone();
    const known = await createContact(env.db, a.id, { phone });

    const stop = await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: 'Marketing', text: 'STOP', timestamp: new Date().toISOString() });
    expect(stop.status).toBe(200);

    // Shop B: no contact row, not even an opted-out tombstone, and nothing to list.
    const inB = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${b.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
    expect(inB).toEqual([]);
    const listB = await request(app).get('/api/contacts').set('Authorization', await auth(b.domain));
    expect(listB.status).toBe(200);
    expect(listB.body.data).toEqual([]);
    // The only readable copy of the number anywhere is shop A's own contact.
    expect(await findEverywhere(env.db, [phone, phone.slice(1)])).toEqual([`contacts.phone_e164 ∋ ${phone}`, `contacts.phone_e164 ∋ ${phone.slice(1)}`]);
    const holders = await env.db.$queryRaw<{ shop_id: string }[]>`SELECT shop_id FROM contacts WHERE phone_e164 = ${phone}`;
    expect(holders).toEqual([{ shop_id: a.id }]);
    // Shop B's privacy export for that number finds nothing of it.
    const webhookId = rid('wh');
    await postShopify(app, 'customers/data_request', { shop_id: 2, shop_domain: b.domain, customer: { id: 1, phone }, data_request: { id: 9 } }, { shopDomain: b.domain, webhookId });
    await waitFor('data request processed', async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status === 'processed');
    const [exported] = await env.db.$queryRaw<{ data: { contacts: unknown[]; inboundMessages: unknown[] } }[]>`
      SELECT data FROM privacy_requests WHERE shop_id = ${b.id}::uuid AND kind = 'data_request'`;
    expect(exported!.data).toMatchObject({ contacts: [], inboundMessages: [] });

    // Shop A, which had the number, has it opted out (the person asked the sender to stop).
    const [aContact] = await env.db.$queryRaw<{ sms_consent: string; opt_out_source: string | null; phone_e164: string | null }[]>`
      SELECT sms_consent, opt_out_source, phone_e164 FROM contacts WHERE id = ${known.id}::uuid`;
    expect(aContact).toEqual({ sms_consent: 'unsubscribed', opt_out_source: 'keyword', phone_e164: phone });

    // Later, shop B adds the number itself and sends from the shared sender: it is skipped, never texted.
    const control = testPhone();
    const idem = () => randomUUID();
    for (const p of [phone, control]) {
      const res = await request(app).post('/api/contacts').set('Authorization', await auth(b.domain)).set('Idempotency-Key', idem()).send({ phone: p, smsConsent: 'subscribed' });
      expect(res.status).toBe(201);
    }
    const created = await request(app).post('/api/campaigns').set('Authorization', await auth(b.domain)).set('Idempotency-Key', idem()).send({ name: 'Sale', body: 'Sale today' });
    expect(created.status).toBe(201);
    const enqueued = await request(app).post(`/api/campaigns/${created.body.id}/enqueue`).set('Authorization', await auth(b.domain)).set('Idempotency-Key', idem()).send({});
    expect(enqueued.status).toBe(202);
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, created.body.id)) === 'completed', 30_000);

    const recipients = await env.db.$queryRaw<{ id: bigint; status: string; phone_e164: string }[]>`
      SELECT r.id, r.status, c.phone_e164 FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id WHERE r.campaign_id = ${created.body.id}::uuid`;
    const byPhone = Object.fromEntries(recipients.map((r) => [r.phone_e164, r]));
    expect(byPhone[phone]?.status).toBe('skipped');
    expect(['sent', 'delivered']).toContain(byPhone[control]?.status);
    expect(sim.referenceStats(recipientReference(String(byPhone[phone]!.id))).sends).toBe(0);
    expect(sim.referenceStats(recipientReference(String(byPhone[control]!.id))).sends).toBe(1);
  });
});
