import { createHmac, timingSafeEqual } from 'node:crypto';

// /internal/* requests are signed by the on-call CLI: hex HMAC-SHA256 over
// "<unix seconds>.<METHOD>.<path>.<raw body>" with INTERNAL_SIGNING_SECRET.
// Every internal operation is idempotent, so a replay inside the window does
// no harm; outside it the timestamp check refuses it.

export const INTERNAL_TOLERANCE_SEC = 300;

export function signInternalRequest(secret: string, method: string, path: string, body: string, timestampSec: number): string {
  return createHmac('sha256', secret).update(`${timestampSec}.${method.toUpperCase()}.${path}.${body}`).digest('hex');
}

export function verifyInternalRequest(
  secret: string,
  req: { method: string; path: string; rawBody: string; timestamp: string | undefined; signature: string | undefined },
  nowSec: number,
): boolean {
  if (!req.timestamp || !/^\d{1,12}$/.test(req.timestamp) || !req.signature || !/^[0-9a-f]{64}$/i.test(req.signature)) return false;
  const ts = Number(req.timestamp);
  if (Math.abs(nowSec - ts) > INTERNAL_TOLERANCE_SEC) return false;
  const expected = Buffer.from(signInternalRequest(secret, req.method, req.path, req.rawBody, ts), 'hex');
  const given = Buffer.from(req.signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
