import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// /internal/* requests are signed by the on-call CLI: hex HMAC-SHA256 over
// "<unix seconds>.<nonce>.<METHOD>.<path with query>.<raw body>" with
// INTERNAL_SIGNING_SECRET. The timestamp bounds a captured request to the
// window; the nonce (X-Internal-Nonce, remembered by the api for the window)
// makes it usable once within it. The query is signed so that nothing a
// route reads can be added to a captured request.
//
// The contract's own form (api.md: "<unix seconds>.<METHOD>.<path>.<raw
// body>", no nonce header) is accepted too; such a request is usable once by
// its signature instead, so an identical one within the same second is
// refused (a client that repeats a call that fast sends a nonce).

export const INTERNAL_TOLERANCE_SEC = 300;
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export interface InternalRequest {
  method: string;
  /** Path and query exactly as requested, e.g. `/internal/reconcile?x=1`. */
  pathWithQuery: string;
  body: string;
  timestampSec: number;
  /** Absent: the contract's form, without a nonce in the signed text. */
  nonce?: string;
}

export function signInternalRequest(secret: string, r: InternalRequest): string {
  const nonce = r.nonce === undefined ? '' : `${r.nonce}.`;
  return createHmac('sha256', secret).update(`${r.timestampSec}.${nonce}${r.method.toUpperCase()}.${r.pathWithQuery}.${r.body}`).digest('hex');
}

/** The headers of one signed call, with a fresh nonce (the CLI's and the chaos suite's client). */
export function internalRequestHeaders(secret: string, r: { method: string; pathWithQuery: string; body: string; now?: Date }): Record<string, string> {
  const timestampSec = Math.floor((r.now ?? new Date()).getTime() / 1000);
  const nonce = randomBytes(16).toString('base64url');
  return {
    'X-Internal-Timestamp': String(timestampSec),
    'X-Internal-Nonce': nonce,
    'X-Internal-Signature': signInternalRequest(secret, { ...r, timestampSec, nonce }),
  };
}

/**
 * What can be checked of a request before its body is read: a timestamp
 * within the window, a signature and a nonce of the right shape. A request
 * failing this cannot pass verifyInternalRequest whatever its body, so it is
 * refused unread.
 */
export function internalHeadersMayPass<R extends { timestamp: string | undefined; nonce: string | undefined; signature: string | undefined }>(
  req: R,
  nowSec: number,
): req is R & { timestamp: string; signature: string } {
  if (!req.timestamp || !/^\d{1,12}$/.test(req.timestamp) || !req.signature || !/^[0-9a-f]{64}$/i.test(req.signature)) return false;
  if (req.nonce !== undefined && !NONCE_PATTERN.test(req.nonce)) return false;
  return Math.abs(nowSec - Number(req.timestamp)) <= INTERNAL_TOLERANCE_SEC;
}

/**
 * Checks signature and window; returns what the caller then spends (once):
 * the nonce, or for the contract's nonce-less form the signature itself.
 * Null when the request is not correctly signed.
 */
export function verifyInternalRequest(
  secret: string,
  req: { method: string; pathWithQuery: string; rawBody: string; timestamp: string | undefined; nonce: string | undefined; signature: string | undefined },
  nowSec: number,
): string | null {
  if (!internalHeadersMayPass(req, nowSec)) return null;
  const ts = Number(req.timestamp);
  const expected = Buffer.from(signInternalRequest(secret, { method: req.method, pathWithQuery: req.pathWithQuery, body: req.rawBody, timestampSec: ts, nonce: req.nonce }), 'hex');
  const given = Buffer.from(req.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  // Disjoint spaces: a nonce never has the `sig.` prefix's dot.
  return req.nonce ?? `sig.${req.signature.toLowerCase()}`;
}
