import { createHash, timingSafeEqual } from 'node:crypto';
import { verifySimulatorSignature } from '../messaging/providers/simulator-signature';

export type SmsCallbackProvider = 'simulator' | 'mitto';

export const SMS_CALLBACK_PROVIDERS: readonly SmsCallbackProvider[] = ['simulator', 'mitto'];

export function isSmsCallbackProvider(p: string): p is SmsCallbackProvider {
  return (SMS_CALLBACK_PROVIDERS as readonly string[]).includes(p);
}

// Hashing both sides first gives equal-length buffers, so timingSafeEqual
// never throws and the comparison leaks neither content nor length.
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export interface SmsCallbackAuth {
  secret: string;
  /** SMS_WEBHOOK_SECRET_PREVIOUS: still accepted while a rotation is under way. */
  previousSecret?: string;
  /** X-Simulator-Signature (simulator). */
  signature?: string | string[];
  /** `?token=` of the callback URL (Mitto has no signature scheme). */
  token?: unknown;
  rawBody: Buffer;
  nowSec: number;
}

function verifyWith(provider: SmsCallbackProvider, secret: string, auth: SmsCallbackAuth): boolean {
  if (!secret) return false;
  if (provider === 'simulator') return verifySimulatorSignature(secret, auth.signature, auth.rawBody, auth.nowSec, 300);
  return typeof auth.token === 'string' && auth.token.length > 0 && auth.token.length <= 512 && sameSecret(auth.token, secret);
}

/**
 * Each provider's own scheme: HMAC header with timestamp for the simulator,
 * URL secret for Mitto (it offers no signature). `previous` when only the
 * secret being rotated out matched: accepted, and counted so the operator
 * sees when the provider has switched (docs/webhooks.md, rotation).
 */
export function verifySmsCallback(provider: SmsCallbackProvider, auth: SmsCallbackAuth): boolean | 'previous' {
  if (verifyWith(provider, auth.secret, auth)) return true;
  if (auth.previousSecret && auth.previousSecret !== auth.secret && verifyWith(provider, auth.previousSecret, auth)) return 'previous';
  return false;
}

const NO_BODY = Buffer.alloc(0);

/**
 * Mitto's URL token on its own: it does not depend on the body (Mitto signs
 * nothing), so a wrong one can be refused before the body is read. True for
 * the secret or the one being rotated out.
 */
export function mittoTokenValid(secrets: { secret: string; previousSecret?: string | undefined }, token: string): boolean {
  return verifySmsCallback('mitto', { ...secrets, token, rawBody: NO_BODY, nowSec: 0 }) !== false;
}
