import type { Express } from 'express';
import request from 'supertest';
import { createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';

// The attack (or a hurried staff member): the number opted out — the person
// asked the store to stop, and the merchant recorded it — and someone "adds"
// it again through the admin's Add contact (POST /api/contacts, an upsert),
// whose form defaulted to Subscribed. The upsert lifted the merchant-recorded
// opt-out and the number was texted again. Now no upsert (POST or import)
// lifts an opt-out: the answer is the contact, still opted out; only a PATCH
// of that contact (which shows the opt-out) or the person's START does.

describe('adding an opted-out number again', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  it('keeps the opt-out and says so', async () => {
    const shop = await createShop(env.db);
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const phone = testPhone();
    const first = await request(app).post('/api/contacts').set('Authorization', auth).send({ phone, smsConsent: 'unsubscribed' });
    expect(first.status).toBe(201);
    const again = await request(app).post('/api/contacts').set('Authorization', auth).send({ phone, smsConsent: 'subscribed' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, smsConsent: 'unsubscribed', optedOutAt: first.body.optedOutAt });
    const [row] = await env.db.$queryRaw<{ sms_consent: string; opted_out_at: Date | null }[]>`SELECT sms_consent, opted_out_at FROM contacts WHERE id = ${first.body.id as string}::uuid`;
    expect(row).toEqual({ sms_consent: 'unsubscribed', opted_out_at: expect.any(Date) });
  });
});
