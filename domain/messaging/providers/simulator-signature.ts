import { createHmac, timingSafeEqual } from 'node:crypto';

// Signature scheme for callbacks sent by the SMS simulator (delivery reports
// and inbound texts): `X-Simulator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256
// of "<t>.<raw body>">`. The timestamp is inside the MAC so a captured request
// cannot be replayed outside the tolerance window.

export const SIMULATOR_SIGNATURE_HEADER = 'x-simulator-signature';

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
const UNIX_SECONDS = /^\d{1,12}$/;

function mac(secret: string, t: number, rawBody: string | Buffer): Buffer {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${t}.`);
  hmac.update(rawBody);
  return hmac.digest();
}

export function signSimulatorPayload(
  secret: string,
  rawBody: string | Buffer,
  t: number = Math.floor(Date.now() / 1000),
): string {
  return `t=${t},v1=${mac(secret, t, rawBody).toString('hex')}`;
}

interface ParsedSignature {
  t: number;
  candidates: string[];
}

/** The header's timestamp and v1 digests, or null when it has no usable pair (or two different timestamps). */
function parseSignature(header: string | readonly string[] | null | undefined): ParsedSignature | null {
  // A repeated header arrives as an array from node:http; accept any element.
  const value = Array.isArray(header) ? header.join(',') : header;
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) return null;

  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const val = part.slice(eq + 1).trim();
    if (key === 't') {
      // Two different timestamps make the header ambiguous: refuse it.
      if (!UNIX_SECONDS.test(val)) return null;
      const parsed = Number(val);
      if (t !== undefined && t !== parsed) return null;
      t = parsed;
    } else if (key === 'v1' && HEX_SHA256.test(val)) {
      // Several v1 values are allowed so a secret can be rotated without downtime.
      candidates.push(val);
    }
  }
  if (t === undefined || candidates.length === 0) return null;
  return { t, candidates };
}

const withinTolerance = (p: ParsedSignature, nowSec: number, toleranceSec: number): boolean => Number.isFinite(nowSec) && Math.abs(nowSec - p.t) <= toleranceSec;

/**
 * What can be checked before the body is read: a timestamp within the
 * tolerance and at least one v1 digest. A header failing this cannot verify
 * whatever the body, so the callback is refused unread.
 */
export function simulatorSignatureMayPass(
  header: string | readonly string[] | null | undefined,
  nowSec: number = Math.floor(Date.now() / 1000),
  toleranceSec = 300,
): boolean {
  const parsed = parseSignature(header);
  return parsed !== null && withinTolerance(parsed, nowSec, toleranceSec);
}

export function verifySimulatorSignature(
  secret: string,
  header: string | readonly string[] | null | undefined,
  rawBody: string | Buffer,
  nowSec: number = Math.floor(Date.now() / 1000),
  toleranceSec = 300,
): boolean {
  if (!secret) return false;
  const parsed = parseSignature(header);
  if (parsed === null || !withinTolerance(parsed, nowSec, toleranceSec)) return false;

  const expected = mac(secret, parsed.t, rawBody);
  let ok = false;
  for (const candidate of parsed.candidates) {
    // Both sides are 32 bytes (regex above), so timingSafeEqual cannot throw.
    if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) ok = true;
  }
  return ok;
}
