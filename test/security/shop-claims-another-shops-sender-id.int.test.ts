import type { Express } from 'express';
import request from 'supertest';
import { phoneHash } from '../../domain/contacts/phone';
import { createContact, createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { findEverywhere, postSimulator, rid } from '../webhooks';

// The attack: any shop could PATCH its senderId to another shop's sender
// (a number or a brand name). It then sent as that shop, and every inbound
// text to that sender (STOPs with the sender's phone number) was recorded in
// its contacts too. Now a sender other than the shared default belongs to
// the one shop that claimed it (unique, case-insensitively): claiming it
// again is 409, and inbound texts route only to the owner.

describe('a shop claiming another shop\'s sender id', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const patch = async (domain: string, body: Record<string, unknown>) =>
    request(app).patch('/api/shop').set('Authorization', `Bearer ${await sessionToken(domain)}`).send(body);

  it('is refused with 409 in any spelling, and inbound texts to the sender reach only its owner', async () => {
    const owner = await createShop(env.db);
    const other = await createShop(env.db);
    const number = `1202555${String(Date.now() % 10_000).padStart(4, '0')}`;
    const brand = `Acme${rid('x').slice(2, 6)}`;

    const refused = async (domain: string, senderId: string) => {
      const res = await patch(domain, { senderId });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('INVALID_STATE');
      expect(res.body.error.details).toEqual([{ path: 'senderId', message: expect.stringContaining('another shop') }]);
    };

    expect((await patch(owner.domain, { senderId: brand })).body).toMatchObject({ senderId: brand });
    for (const spelling of [brand, brand.toUpperCase(), brand.toLowerCase()]) await refused(other.domain, spelling);
    // Moving to another sender gives the old one up.
    expect((await patch(owner.domain, { senderId: number })).body).toMatchObject({ senderId: number });
    await refused(other.domain, number);
    expect((await patch(other.domain, { senderId: brand })).body).toMatchObject({ senderId: brand });
    await refused(owner.domain, brand.toUpperCase());
    expect((await request(app).get('/api/shop').set('Authorization', `Bearer ${await sessionToken(owner.domain)}`)).body.senderId).toBe(number);

    // The shared default is nobody's: both may send as it.
    expect((await patch(other.domain, { senderId: 'Marketing' })).status).toBe(200);
    const third = await createShop(env.db);
    expect((await patch(third.domain, { senderId: 'Marketing' })).status).toBe(200);

    // A STOP to the owner's number: the other shop's contact with that number is untouched,
    // the owner (which never had the number) gains no contact row and no readable number.
    const phone = testPhone();
    await createContact(env.db, other.id, { phone });
    const res = await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: number, text: 'STOP', timestamp: new Date().toISOString() });
    expect(res.status).toBe(200);
    const contacts = await env.db.$queryRaw<{ shop_id: string; sms_consent: string; opted_out_at: Date | null }[]>`
      SELECT shop_id, sms_consent, opted_out_at FROM contacts WHERE phone_hash = ${phoneHash(phone)}`;
    expect(contacts).toEqual([{ shop_id: other.id, sms_consent: 'subscribed', opted_out_at: null }]);
    const suppressions = await env.db.$queryRaw<{ scope: string }[]>`SELECT scope FROM sms_suppressions`;
    expect(suppressions).toEqual([{ scope: `shop:${owner.id}` }]);
    // Readable only where it already was (the other shop's contact) and in the owner's own inbound record.
    expect((await findEverywhere(env.db, [phone])).sort()).toEqual([`contacts.phone_e164 ∋ ${phone}`, `inbound_messages.from_phone ∋ ${phone}`]);
    const [inbound] = await env.db.$queryRaw<{ shop_id: string | null }[]>`SELECT shop_id FROM inbound_messages WHERE from_hash = ${phoneHash(phone)}`;
    expect(inbound?.shop_id).toBe(owner.id);
  });
});
