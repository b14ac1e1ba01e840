import { customerIdOf, readBulkCustomer } from './bulk-customer';

const base = { id: 'gid://shopify/Customer/42', phone: '+1 (201) 555-0123' };

describe('readBulkCustomer', () => {
  it('reads a customer of the export: phone in E.164, consent mapped, summary in minor units, tags lower-cased', () => {
    const c = readBulkCustomer({
      ...base,
      firstName: ' Ada ',
      lastName: 'Lovelace',
      email: 'ada@example.com',
      tags: ['VIP', 'vip', ' Newsletter ', 7, ''],
      updatedAt: '2026-11-01T10:00:00Z',
      numberOfOrders: '12',
      amountSpent: { amount: '1234', currencyCode: 'jpy' },
      lastOrder: { createdAt: '2026-10-30T09:00:00Z' },
      smsMarketingConsent: { marketingState: 'SUBSCRIBED', marketingOptInLevel: 'CONFIRMED_OPT_IN', consentUpdatedAt: '2026-09-01T00:00:00Z', consentCollectedFrom: 'SHOPIFY' },
    });
    expect(c).toMatchObject({
      customerId: '42',
      phoneE164: '+12015550123',
      phoneProblem: null,
      firstName: 'Ada',
      email: 'ada@example.com',
      consent: 'subscribed',
      optInLevel: 'CONFIRMED_OPT_IN',
      tags: ['vip', 'newsletter'],
      ordersCount: 12,
      currency: 'JPY',
      updatedAt: new Date('2026-11-01T10:00:00Z'),
      lastOrderAt: new Date('2026-10-30T09:00:00Z'),
    });
    expect(c?.phoneHash).toMatch(/^[0-9a-f]{64}$/);
    // JPY has no minor unit: the amount is its own minor units.
    expect(c?.spentMinor).toBe('1234');
    expect(readBulkCustomer({ ...base, amountSpent: { amount: '120.50', currencyCode: 'USD' } })?.spentMinor).toBe('12050');
  });

  it.each([
    ['SUBSCRIBED', 'subscribed'],
    ['PENDING', 'pending'],
    ['NOT_SUBSCRIBED', 'pending'],
    ['UNSUBSCRIBED', 'unsubscribed'],
    ['REDACTED', 'unsubscribed'],
    ['INVALID', null],
  ])('maps Shopify %s to %s', (state, ours) => {
    expect(readBulkCustomer({ ...base, smsMarketingConsent: { marketingState: state } })?.consent).toBe(ours);
  });

  it('reads the phone and its consent from defaultPhoneNumber when the Customer fields are absent', () => {
    const c = readBulkCustomer({
      id: 'gid://shopify/Customer/43',
      defaultPhoneNumber: { phoneNumber: '+12015550124', marketingState: 'UNSUBSCRIBED', marketingOptInLevel: null, marketingUpdatedAt: '2026-08-01T00:00:00Z', marketingCollectedFrom: 'OTHER' },
    });
    expect(c).toMatchObject({ phoneE164: '+12015550124', consent: 'unsubscribed', shopifyState: 'UNSUBSCRIBED', consentUpdatedAt: '2026-08-01T00:00:00Z', consentCollectedFrom: 'OTHER' });
  });

  it('tells a missing phone from an invalid one', () => {
    expect(readBulkCustomer({ ...base, phone: null })).toMatchObject({ phoneE164: null, phoneHash: null, phoneProblem: 'missing' });
    expect(readBulkCustomer({ ...base, phone: 'call me' })).toMatchObject({ phoneE164: null, phoneProblem: 'invalid' });
  });

  it('reads malformed optional fields as absent, and refuses what is not a customer line', () => {
    const odd = readBulkCustomer({ ...base, tags: 'vip', numberOfOrders: -3, amountSpent: 'lots', updatedAt: 'yesterday', smsMarketingConsent: 'yes', firstName: { a: 1 } });
    expect(odd).toMatchObject({ tags: [], ordersCount: null, spentMinor: null, updatedAt: null, consent: null, firstName: null, phoneE164: '+12015550123' });
    expect(readBulkCustomer({ id: 'gid://shopify/Order/1' })).toBeNull();
    expect(readBulkCustomer({ ...base, __parentId: 'gid://shopify/Customer/1' })).toBeNull();
    expect(readBulkCustomer(null)).toBeNull();
    expect(readBulkCustomer([base])).toBeNull();
  });

  it('keeps the numeric id webhooks carry; an id of another form as it is', () => {
    expect(readBulkCustomer({ ...base, id: 'gid://shopify/Customer/9007199254740993' })?.customerId).toBe('9007199254740993');
    expect(customerIdOf('gid://shopify/Customer/42')).toBe('42');
    expect(customerIdOf('gid://shopify/Customer/42/x')).toBe('gid://shopify/Customer/42/x');
    expect(customerIdOf('77')).toBe('77');
  });
});

