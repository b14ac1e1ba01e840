import { consentFromShopify } from './sync-shopify-customer';

describe('consentFromShopify', () => {
  it('maps every Shopify SMS consent state', () => {
    expect(consentFromShopify('subscribed')).toBe('subscribed');
    expect(consentFromShopify('unsubscribed')).toBe('unsubscribed');
    expect(consentFromShopify('redacted')).toBe('unsubscribed');
    expect(consentFromShopify('not_subscribed')).toBe('pending');
    expect(consentFromShopify('pending')).toBe('pending');
  });

  it("reads the Admin API's upper-case states (bulk sync) the same way: only SUBSCRIBED is sendable", () => {
    expect(consentFromShopify('SUBSCRIBED')).toBe('subscribed');
    expect(consentFromShopify('PENDING')).toBe('pending');
    expect(consentFromShopify('NOT_SUBSCRIBED')).toBe('pending');
    expect(consentFromShopify('UNSUBSCRIBED')).toBe('unsubscribed');
    expect(consentFromShopify('REDACTED')).toBe('unsubscribed');
  });

  it('leaves consent alone when Shopify says nothing we understand', () => {
    expect(consentFromShopify(undefined)).toBeUndefined();
    expect(consentFromShopify(null)).toBeUndefined();
    expect(consentFromShopify('invalid')).toBeUndefined();
  });
});
