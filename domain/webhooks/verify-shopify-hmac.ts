import { createHmac, timingSafeEqual } from 'node:crypto';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Shopify's webhook scheme: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256
 * of the raw body with the app's API secret. Compared in constant time; a
 * header of the wrong length or alphabet is refused before comparing.
 */
export function verifyShopifyHmac(secret: string, header: string | undefined, rawBody: Buffer): boolean {
  if (!secret || typeof header !== 'string' || header.length === 0 || header.length > 256 || !BASE64.test(header.trim())) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(header.trim(), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What a test (or a replay tool) sends: the header value for a body. */
export function signShopifyBody(secret: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64');
}
