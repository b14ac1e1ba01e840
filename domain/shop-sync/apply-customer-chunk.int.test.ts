import { phoneHmac } from '../compliance/suppressions';
import { createContactImport, createShop, phoneHash, testPhone } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { eraseContact } from '../contacts/erase-contact';
import { importContacts } from '../contacts/import-contacts';
import { updateContact } from '../contacts/update-contact';
import { applyCustomerChunk } from './apply-customer-chunk';
import { readBulkCustomer, type SyncCustomer } from './bulk-customer';

// A sync line applies the same consent rules as a customers/update webhook
// (sync-shopify-customer.ts): on a contact linked to the customer, Shopify's
// consent applies only when it is newer than the contact's last consent
// decision made here; the profile follows the export's own time guard.
describe('applyCustomerChunk: Shopify consent vs a newer decision made here', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  let seq = 0;
  const customerNumber = (): number => 8_000_000_000 + (Date.now() % 1_000_000) * 100 + seq++;
  const ago = (sec: number): string => new Date(Date.now() - sec * 1000).toISOString();
  const line = (n: number, phone: string, o: { firstName: string; state: string; consentAt: string; updatedAt: string }): SyncCustomer =>
    readBulkCustomer({
      id: `gid://shopify/Customer/${n}`,
      firstName: o.firstName,
      phone,
      updatedAt: o.updatedAt,
      smsMarketingConsent: { marketingState: o.state, marketingOptInLevel: 'SINGLE_OPT_IN', consentUpdatedAt: o.consentAt, consentCollectedFrom: 'OTHER' },
    })!;
  const apply = (shopId: string, customers: SyncCustomer[]) =>
    env.db.$transaction((tx) => applyCustomerChunk(tx, { shopId, syncId: '00000000-0000-4000-8000-000000000002', customers, fallbackUpdatedAt: new Date() }));
  const contactOf = async (shopId: string, phone: string) =>
    (await env.db.$queryRaw<{ id: string; first_name: string | null; sms_consent: string; opt_out_source: string | null }[]>`
      SELECT id, first_name, sms_consent, opt_out_source FROM contacts WHERE shop_id = ${shopId}::uuid AND phone_hash = ${phoneHash(phone)}`)[0]!;

  it('a line whose consent predates the merchant\'s newer decision applies its profile but not its consent; a newer one applies both', async () => {
    const shop = await createShop(env.db);
    const phone = testPhone();
    const n = customerNumber();
    await apply(shop.id, [line(n, phone, { firstName: 'Pat', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(600) })]);
    const { id } = await contactOf(shop.id, phone);
    await updateContact(env.db, shop.id, id, { phoneE164: undefined, phoneHash: undefined, smsConsent: 'pending' });

    // A resync exported the customer a minute before that decision.
    await apply(shop.id, [line(n, phone, { firstName: 'Patricia', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(60) })]);
    expect(await contactOf(shop.id, phone)).toMatchObject({ first_name: 'Patricia', sms_consent: 'pending' });

    // The customer unsubscribed in Shopify after the merchant's decision: the newest wins.
    await apply(shop.id, [line(n, phone, { firstName: 'Patricia', state: 'UNSUBSCRIBED', consentAt: new Date(Date.now() + 5_000).toISOString(), updatedAt: new Date(Date.now() + 5_000).toISOString() })]);
    expect(await contactOf(shop.id, phone)).toMatchObject({ sms_consent: 'unsubscribed', opt_out_source: 'shopify' });
  });

  it('a customer linked for the first time takes Shopify\'s state even if an import decided later: that state is news, not stale', async () => {
    const shop = await createShop(env.db);
    const phone = testPhone();
    const imp = await createContactImport(env.db, shop.id, { rows: [{ phone, smsConsent: 'subscribed' }] });
    expect((await importContacts(env.db, { importId: imp.id })).status).toBe('completed');

    await apply(shop.id, [line(customerNumber(), phone, { firstName: 'Kim', state: 'UNSUBSCRIBED', consentAt: ago(3_600), updatedAt: ago(3_600) })]);
    expect(await contactOf(shop.id, phone)).toMatchObject({ first_name: 'Kim', sms_consent: 'unsubscribed', opt_out_source: 'shopify' });
  });

  // As a customers/update moving the contact (apps/api/src/webhooks/shopify.int.test.ts): consent and opt-out belong to the number.
  it('a customer whose phone changed: the new number takes only consent newer than the decision made here; the old number keeps its opt-out', async () => {
    const shop = await createShop(env.db);
    const [a, b, c, d] = [testPhone(), testPhone(), testPhone(), testPhone()];
    const [n, m] = [customerNumber(), customerNumber()];
    const withKey = (customers: SyncCustomer[]) =>
      env.db.$transaction((tx) =>
        applyCustomerChunk(tx, { shopId: shop.id, syncId: '00000000-0000-4000-8000-000000000003', customers, fallbackUpdatedAt: new Date(), phoneHashKey: env.config.PHONE_HASH_KEY }),
      );
    await withKey([line(n, a, { firstName: 'Opt', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(600) }), line(m, c, { firstName: 'Sub', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(600) })]);
    const { id } = await contactOf(shop.id, a);
    await updateContact(env.db, shop.id, id, { phoneE164: undefined, phoneHash: undefined, smsConsent: 'unsubscribed' });

    // A resync: both customers have new numbers; Shopify's consent is the one it had before (for the old numbers).
    await withKey([line(n, b, { firstName: 'Opt', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(60) }), line(m, d, { firstName: 'Sub', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(60) })]);
    expect(await contactOf(shop.id, b)).toMatchObject({ id, sms_consent: 'pending', opt_out_source: null });
    // No decision here since Shopify's consent: the export's consent is the new number's.
    expect(await contactOf(shop.id, d)).toMatchObject({ sms_consent: 'subscribed' });
    const kept = await env.db.$queryRaw<{ scope: string }[]>`SELECT scope FROM sms_suppressions WHERE phone_hmac = ${phoneHmac(env.config.PHONE_HASH_KEY, a)}`;
    expect(kept).toEqual([{ scope: `shop:${shop.id}` }]);
  });
  // As a customers/update (test/security/shopify-phone-change-onto-erased-number.int.test.ts): the tombstone of an
  // erased contact does not hold its number against a move; the contact takes the number and the tombstone's opt-out.
  it("a customer whose new phone is an erased contact's number moves onto it, keeping the number's opt-out", async () => {
    const shop = await createShop(env.db);
    const [gone, own, free] = [testPhone(), testPhone(), testPhone()];
    const [n, m, k] = [customerNumber(), customerNumber(), customerNumber()];
    await apply(shop.id, [line(k, gone, { firstName: 'Gone', state: 'UNSUBSCRIBED', consentAt: ago(900), updatedAt: ago(900) })]);
    const erased = await contactOf(shop.id, gone);
    await updateContact(env.db, shop.id, erased.id, { phoneE164: undefined, phoneHash: undefined, smsConsent: 'unsubscribed' });
    await eraseContact(env.db, shop.id, erased.id);
    const [tomb] = await env.db.$queryRaw<{ opted_out_at: Date }[]>`SELECT opted_out_at FROM contacts WHERE id = ${erased.id}::uuid`;
    expect(tomb?.opted_out_at).toBeInstanceOf(Date);
    // A second erased contact, never opted out: its number is free, with no opt-out to carry.
    await apply(shop.id, [line(customerNumber(), free, { firstName: 'Also gone', state: 'NOT_SUBSCRIBED', consentAt: ago(900), updatedAt: ago(900) })]);
    await eraseContact(env.db, shop.id, (await contactOf(shop.id, free)).id);

    await apply(shop.id, [
      line(n, own, { firstName: 'Mover', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(600) }),
      line(m, testPhone(), { firstName: 'Other', state: 'SUBSCRIBED', consentAt: ago(600), updatedAt: ago(600) }),
    ]);
    const mover = await contactOf(shop.id, own);
    const other = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND shopify_customer_id = ${String(m)}`;
    // A resync: Shopify says subscribed (its state for the old numbers).
    await apply(shop.id, [
      line(n, gone, { firstName: 'Mover', state: 'SUBSCRIBED', consentAt: ago(60), updatedAt: ago(60) }),
      line(m, free, { firstName: 'Other', state: 'SUBSCRIBED', consentAt: ago(60), updatedAt: ago(60) }),
    ]);
    const row = async (id: string) =>
      (await env.db.$queryRaw<{ phone_hash: string; sms_consent: string; opted_out_at: Date | null; opt_out_source: string | null }[]>`
        SELECT phone_hash, sms_consent, opted_out_at, opt_out_source FROM contacts WHERE id = ${id}::uuid`)[0];
    expect(await row(mover.id)).toEqual({ phone_hash: phoneHash(gone), sms_consent: 'unsubscribed', opted_out_at: tomb!.opted_out_at, opt_out_source: 'redact' });
    expect(await row(other[0]!.id)).toEqual({ phone_hash: phoneHash(free), sms_consent: 'subscribed', opted_out_at: null, opt_out_source: null });
    expect(await row(erased.id)).toEqual({ phone_hash: `released:${erased.id}`, sms_consent: 'pending', opted_out_at: null, opt_out_source: null });
  });
});

// Shopify allows longer names and tags than a contact keeps; readBulkCustomer
// cuts them. A cut through an emoji (two UTF-16 units) left half of it, which
// jsonb refuses: the chunk's statement failed, so one customer's name stopped
// the whole sync.
describe('applyCustomerChunk: a name or tag cut to length', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  it('never splits a character in two, so the chunk applies', async () => {
    const shop = await createShop(env.db);
    const phone = testPhone();
    const name = `${'a'.repeat(99)}😀b`;
    const tag = `${'t'.repeat(63)}😀x`;
    const customer = readBulkCustomer({ id: 'gid://shopify/Customer/424242', firstName: name, lastName: `\ud800${'z'.repeat(5)}`, phone, tags: [tag], updatedAt: new Date().toISOString() })!;
    const counts = await env.db.$transaction((tx) => applyCustomerChunk(tx, { shopId: shop.id, syncId: '00000000-0000-4000-8000-000000000003', customers: [customer], fallbackUpdatedAt: new Date() }));
    expect(counts.contactsCreated).toBe(1);
    const [row] = await env.db.$queryRaw<{ first_name: string; last_name: string; tags: string[] }[]>`
      SELECT first_name, last_name, tags FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
    expect(row).toEqual({ first_name: 'a'.repeat(99), last_name: '\uFFFDzzzzz', tags: ['t'.repeat(63)] });
  });

  it('a time Postgres cannot store (year 0, a six-digit year) reads as absent, so the chunk applies', async () => {
    const shop = await createShop(env.db);
    const phones = [testPhone(), testPhone()];
    // consentUpdatedAt is kept as Shopify wrote it, but never used as a time Postgres refuses.
    const customers = [
      readBulkCustomer({ id: 'gid://shopify/Customer/424243', phone: phones[0], updatedAt: '0000-01-01T00:00:00Z', lastOrder: { createdAt: '+010000-01-01T00:00:00Z' } })!,
      readBulkCustomer({ id: 'gid://shopify/Customer/424244', phone: phones[1], updatedAt: new Date().toISOString(), lastOrder: { createdAt: '-000001-01-01T00:00:00Z' } })!,
      readBulkCustomer({ id: 'gid://shopify/Customer/424245', phone: testPhone(), smsMarketingConsent: { marketingState: 'SUBSCRIBED', consentUpdatedAt: '0000-06-01T00:00:00Z' } })!,
    ];
    const counts = await env.db.$transaction((tx) => applyCustomerChunk(tx, { shopId: shop.id, syncId: '00000000-0000-4000-8000-000000000004', customers, fallbackUpdatedAt: new Date() }));
    expect(counts.contactsCreated).toBe(3);
  });
});
