import { consentFromShopify } from './sync-shopify-customer';

describe('consentFromShopify', () => {
  it('maps every Shopify SMS consent state', () => {
    expect(consentFromShopify('subscribed')).toBe('subscribed');
    expect(consentFromShopify('unsubscribed')).toBe('unsubscribed');
    expect(consentFromShopify('redacted')).toBe('unsubscribed');
    expect(consentFromShopify('not_subscribed')).toBe('pending');
    expect(consentFromShopify('pending')).toBe('pending');
  });

  it('leaves consent alone when Shopify says nothing we understand', () => {
    expect(consentFromShopify(undefined)).toBeUndefined();
    expect(consentFromShopify(null)).toBeUndefined();
    expect(consentFromShopify('invalid')).toBeUndefined();
  });
});
