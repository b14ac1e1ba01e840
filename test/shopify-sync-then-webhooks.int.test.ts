import { readFileSync } from 'node:fs';
import path from 'node:path';
import { applyCustomerChunk } from '../domain/shop-sync/apply-customer-chunk';
import { readBulkCustomer } from '../domain/shop-sync/bulk-customer';
import { createContact, createShop, testPhone } from './factories';
import { useWebhookStack } from './harness';
import { deliverShopify } from './webhooks';

// The install sync and the customers/* webhooks name a customer the same way
// (its numeric id): a customer synced at install and then updated in Shopify
// is one contact, found by its id, whatever its number became.

describe('a customer synced at install, then changed in Shopify', () => {
  const t = useWebhookStack();

  it('a new number on customers/update moves the one contact to it; the old number is not left subscribed on a second contact', async () => {
    const shop = await createShop(t.env.db);
    const [oldPhone, newPhone] = [testPhone(), testPhone()];
    const n = 7_000_000 + (Date.now() % 1_000_000);
    const line = readBulkCustomer({
      id: `gid://shopify/Customer/${n}`,
      firstName: 'Ada',
      phone: oldPhone,
      updatedAt: new Date(Date.now() - 60_000).toISOString(),
      smsMarketingConsent: { marketingState: 'SUBSCRIBED', marketingOptInLevel: 'SINGLE_OPT_IN', consentUpdatedAt: null, consentCollectedFrom: 'SHOPIFY' },
    })!;
    await t.env.db.$transaction((tx) => applyCustomerChunk(tx, { shopId: shop.id, syncId: '00000000-0000-4000-8000-000000000001', customers: [line], fallbackUpdatedAt: new Date() }));
    await deliverShopify(
      t.app,
      t.env.db,
      'customers/update',
      { id: n, first_name: 'Ada', phone: newPhone, updated_at: new Date().toISOString(), sms_marketing_consent: { state: 'subscribed', consent_updated_at: new Date().toISOString() } },
      shop.domain,
    );
    const rows = await t.env.db.$queryRaw<{ phone_e164: string; sms_consent: string; shopify_customer_id: string }[]>`
      SELECT phone_e164, sms_consent, shopify_customer_id FROM contacts WHERE shop_id = ${shop.id}::uuid AND erased_at IS NULL ORDER BY created_at`;
    expect(rows).toEqual([{ phone_e164: newPhone, sms_consent: 'subscribed', shopify_customer_id: String(n) }]);
  });

  it('the migration gives contacts synced before the numeric id, except where the shop already holds that id (the duplicate is left to the merchant)', async () => {
    const shop = await createShop(t.env.db);
    const [a, b, dup] = await Promise.all([1, 2, 3].map(() => createContact(t.env.db, shop.id)));
    const other = await createShop(t.env.db);
    const elsewhere = await createContact(t.env.db, other.id);
    const set = (id: string, customer: string) => t.env.db.$executeRaw`UPDATE contacts SET shopify_customer_id = ${customer} WHERE id = ${id}::uuid`;
    await set(a!.id, 'gid://shopify/Customer/9101');
    await set(b!.id, 'gid://shopify/Customer/9102');
    await set(dup!.id, '9102');
    // Another shop's contact under the numeric id blocks nothing here.
    await set(elsewhere.id, '9101');
    const sql = readFileSync(path.join(__dirname, '..', 'prisma', 'migrations', '20261218100000_shopify_customer_ids_numeric', 'migration.sql'), 'utf8');
    await t.env.db.$executeRawUnsafe(sql);
    const ids = await t.env.db.$queryRaw<{ id: string; shopify_customer_id: string }[]>`
      SELECT id, shopify_customer_id FROM contacts WHERE id = ANY(${[a!.id, b!.id, dup!.id, elsewhere.id]}::uuid[])`;
    expect(Object.fromEntries(ids.map((r) => [r.id, r.shopify_customer_id]))).toEqual({
      [a!.id]: '9101',
      [b!.id]: 'gid://shopify/Customer/9102',
      [dup!.id]: '9102',
      [elsewhere.id]: '9101',
    });
  });
});

