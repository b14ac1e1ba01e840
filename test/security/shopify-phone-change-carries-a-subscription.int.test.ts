import type { Express } from 'express';
import { phoneHmac } from '../../domain/compliance/suppressions';
import { createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { deliverShopify, postSimulator, rid } from '../webhooks';

// The attack: a customer subscribed on one number, then (after texting STOP,
// or without any consent for it) the store gives the customer another number.
// A customers/update carrying the new phone moved the contact AND its
// `subscribed` onto the new number, texting a number nobody consented for; and
// an opt-out the merchant recorded left with the contact, so the old number
// lost it. Now consent and opt-out belong to the number: the new one takes only
// that update's own consent (newer than any decision made here), the old one
// stays suppressed.

describe('a Shopify customer moved to a new phone', () => {
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
  const contactOf = async (shopId: string, id: number) =>
    (await env.db.$queryRaw<{ phone_e164: string; sms_consent: string }[]>`
      SELECT phone_e164, sms_consent FROM contacts WHERE shop_id = ${shopId}::uuid AND shopify_customer_id = ${String(id)}`)[0];

  it('is not subscribed on the new number by the old number\'s consent, and the number that said STOP stays suppressed', async () => {
    const sender = `1202${String(Date.now()).slice(-7)}`;
    const shop = await createShop(env.db, { senderId: sender });
    const [old, fresh, other] = [testPhone(), testPhone(), testPhone()];
    const [stopped, silent] = [Date.now() * 10 + 1, Date.now() * 10 + 2];
    const subscribed = { state: 'subscribed', opt_in_level: 'single_opt_in', consent_updated_at: iso(-600) };
    await deliverShopify(app, env.db, 'customers/create', { id: stopped, phone: old, updated_at: iso(-600), sms_marketing_consent: subscribed }, shop.domain);
    await deliverShopify(app, env.db, 'customers/create', { id: silent, phone: testPhone(), updated_at: iso(-600), sms_marketing_consent: subscribed }, shop.domain);
    await postSimulator(app, 'inbound', { id: rid('in'), from: old, to: sender, text: 'STOP', timestamp: iso(-300) });

    // Shopify's consent is still the one it had for the old numbers; one update carries none at all.
    await deliverShopify(app, env.db, 'customers/update', { id: stopped, phone: fresh, updated_at: iso(-100), sms_marketing_consent: subscribed }, shop.domain);
    await deliverShopify(app, env.db, 'customers/update', { id: silent, phone: other, updated_at: iso(-100) }, shop.domain);
    expect(await contactOf(shop.id, stopped)).toEqual({ phone_e164: fresh, sms_consent: 'pending' });
    expect(await contactOf(shop.id, silent)).toEqual({ phone_e164: other, sms_consent: 'pending' });
    const kept = await env.db.$queryRaw<{ scope: string }[]>`SELECT scope FROM sms_suppressions WHERE phone_hmac = ${phoneHmac(env.config.PHONE_HASH_KEY, old)}`;
    expect(kept).toEqual([{ scope: `shop:${shop.id}` }]);
  });
});
