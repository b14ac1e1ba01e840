import { createHmac, timingSafeEqual } from 'node:crypto';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Shopify's webhook scheme: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256
 * of the raw body with the app's API secret. Compared in constant time; a
 * header of the wrong length or alphabet is refused before comparing.
 */
export function verifyShopifyHmac(secret: string, header: string | undefined, rawBody: Buffer): boolean {
  const given = givenHmac(header);
  if (!secret || given === null) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The header's 32 bytes, or null when it is not the base64 of 32 bytes (no body can match it). */
function givenHmac(header: string | undefined): Buffer | null {
  if (typeof header !== 'string' || header.length === 0 || header.length > 256 || !BASE64.test(header.trim())) return null;
  const given = Buffer.from(header.trim(), 'base64');
  return given.length === 32 ? given : null;
}

/**
 * What can be checked before the body is read: the header is the base64 of
 * an HMAC-SHA256 (32 bytes). One that is not cannot verify whatever the body,
 * so the delivery is refused unread (apps/api/src/webhooks/raw-body.ts).
 */
export function shopifyHmacHeaderMayPass(header: string | undefined): boolean {
  return givenHmac(header) !== null;
}

/** What a test (or a replay tool) sends: the header value for a body. */
export function signShopifyBody(secret: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64');
}
