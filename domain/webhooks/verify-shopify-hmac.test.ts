import { signShopifyBody, verifyShopifyHmac } from './verify-shopify-hmac';

describe('verifyShopifyHmac', () => {
  const secret = 'shpss_test_secret';
  const body = Buffer.from(JSON.stringify({ id: 42, email: 'a@example.test' }));

  it('accepts the base64 HMAC-SHA256 of the raw body', () => {
    expect(verifyShopifyHmac(secret, signShopifyBody(secret, body), body)).toBe(true);
  });

  it('refuses a flipped body byte, another secret, and malformed or missing headers', () => {
    const sig = signShopifyBody(secret, body);
    const flipped = Buffer.from(body);
    flipped[3] = flipped[3]! ^ 0x20;
    expect(verifyShopifyHmac(secret, sig, flipped)).toBe(false);
    expect(verifyShopifyHmac('other', sig, body)).toBe(false);
    expect(verifyShopifyHmac(secret, undefined, body)).toBe(false);
    expect(verifyShopifyHmac(secret, '', body)).toBe(false);
    expect(verifyShopifyHmac(secret, sig.slice(0, 20), body)).toBe(false);
    expect(verifyShopifyHmac(secret, `${sig}AAAA`, body)).toBe(false);
    expect(verifyShopifyHmac(secret, 'not base64 at all!', body)).toBe(false);
    expect(verifyShopifyHmac('', sig, body)).toBe(false);
  });
});
