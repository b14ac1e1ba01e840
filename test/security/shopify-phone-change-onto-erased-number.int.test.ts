import type { Express } from 'express';
import { eraseContact } from '../../domain/contacts/erase-contact';
import { phoneHash } from '../../domain/contacts/phone';
import { createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { deliverShopify, postSimulator, rid } from '../webhooks';

// The store gives a customer a number whose earlier holder texted STOP and
// was then erased: the erased contact's tombstone keeps the number's hash so
// the opt-out survives. A customers/update counted the tombstone as "another
// contact holds the number" and left the customer's contact on its old
// number, out of step with Shopify. Now the contact takes the number, and
// with it the tombstone's opt-out (it must never be lost), as PATCH
// /api/contacts/:id does.

describe('a Shopify customer moved onto an erased contact\'s number', () => {
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

  const iso = (sec: number) => new Date(Date.now() + sec * 1000).toISOString();
  const subscribed = (sec: number) => ({ state: 'subscribed', opt_in_level: 'single_opt_in', consent_updated_at: iso(sec) });
  type Row = { id: string; phone_e164: string | null; phone_hash: string; sms_consent: string; opted_out_at: Date | null; opt_out_source: string | null };
  const byCustomer = async (shopId: string, id: number) =>
    (await env.db.$queryRaw<Row[]>`
      SELECT id, phone_e164, phone_hash, sms_consent, opted_out_at, opt_out_source FROM contacts
       WHERE shop_id = ${shopId}::uuid AND shopify_customer_id = ${String(id)}`)[0];
  const byId = async (id: string) =>
    (await env.db.$queryRaw<Row[]>`SELECT id, phone_e164, phone_hash, sms_consent, opted_out_at, opt_out_source FROM contacts WHERE id = ${id}::uuid`)[0];

  /** A contact on `phone` that texted STOP and was then erased: its tombstone. */
  async function stoppedThenErased(shop: { id: string; domain: string }, sender: string, phone: string): Promise<Row> {
    const customer = Date.now() * 10 + 7;
    await deliverShopify(app, env.db, 'customers/create', { id: customer, phone, updated_at: iso(-900), sms_marketing_consent: subscribed(-900) }, shop.domain);
    await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text: 'STOP', timestamp: iso(-800) });
    const contact = (await byCustomer(shop.id, customer))!;
    await eraseContact(env.db, shop.id, contact.id);
    const tombstone = (await byId(contact.id))!;
    expect(tombstone).toMatchObject({ phone_e164: null, phone_hash: phoneHash(phone), opt_out_source: 'keyword' });
    return tombstone;
  }

  it('moves the contact and carries the opt-out the tombstone kept', async () => {
    const sender = `1202${String(Date.now()).slice(-7)}`;
    const shop = await createShop(env.db, { senderId: sender });
    const [erasedNumber, own] = [testPhone(), testPhone()];
    const tombstone = await stoppedThenErased(shop, sender, erasedNumber);

    const customer = Date.now() * 10 + 8;
    await deliverShopify(app, env.db, 'customers/create', { id: customer, phone: own, updated_at: iso(-600), sms_marketing_consent: subscribed(-600) }, shop.domain);
    // Shopify even says subscribed (its state of the old number): the number's STOP stands.
    expect(await deliverShopify(app, env.db, 'customers/update', { id: customer, phone: erasedNumber, updated_at: iso(-100), sms_marketing_consent: subscribed(-100) }, shop.domain)).toBe('processed');

    expect(await byCustomer(shop.id, customer)).toMatchObject({
      phone_e164: erasedNumber,
      phone_hash: phoneHash(erasedNumber),
      sms_consent: 'unsubscribed',
      opted_out_at: tombstone.opted_out_at,
      opt_out_source: 'keyword',
    });
    // The tombstone stays, without the number and its opt-out (the contact holds them now).
    expect(await byId(tombstone.id)).toMatchObject({ phone_e164: null, phone_hash: `released:${tombstone.id}`, opted_out_at: null, opt_out_source: null });
  });

  it('an older update moves nothing and leaves the number to its tombstone', async () => {
    const sender = `1203${String(Date.now()).slice(-7)}`;
    const shop = await createShop(env.db, { senderId: sender });
    const [erasedNumber, own] = [testPhone(), testPhone()];
    const tombstone = await stoppedThenErased(shop, sender, erasedNumber);

    const customer = Date.now() * 10 + 9;
    await deliverShopify(app, env.db, 'customers/create', { id: customer, phone: own, updated_at: iso(-300), sms_marketing_consent: subscribed(-300) }, shop.domain);
    await deliverShopify(app, env.db, 'customers/update', { id: customer, phone: erasedNumber, updated_at: iso(-400), sms_marketing_consent: subscribed(-400) }, shop.domain);

    expect(await byCustomer(shop.id, customer)).toMatchObject({ phone_e164: own, sms_consent: 'subscribed', opted_out_at: null });
    expect(await byId(tombstone.id)).toMatchObject({ phone_hash: phoneHash(erasedNumber), sms_consent: 'unsubscribed', opted_out_at: tombstone.opted_out_at, opt_out_source: 'keyword' });
  });
});
