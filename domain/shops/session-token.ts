import { createSecretKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { BoundedMap } from '../../lib/bounded-map';
import { AppError } from '../../lib/errors';

// Shopify session tokens (App Bridge): HS256 JWTs signed with the app's API
// secret. jose checks the signature, exp, nbf and iat (10 s skew) and aud; we
// add the Shopify rule that iss and dest name the same *.myshopify.com shop,
// and a bound on the lifetime: Shopify's tokens live one minute, so a token
// valid for longer than MAX_LIFETIME_S was not minted by Shopify, and a
// leaked one must not stay usable for long.

const SHOP_HOST = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;

export interface SessionClaims {
  shopDomain: string;
  userId?: string;
  sessionId?: string;
}

/**
 * The shop a claim names, when the claim is exactly Shopify's form: `dest`
 * is `https://<shop>.myshopify.com` and `iss` the same with `/admin`. A URL
 * with credentials, a port, another path, a query or a fragment is not one
 * Shopify mints, so it names no shop (the host alone would let such a token
 * through).
 */
function shopOf(url: unknown, path: '' | '/admin'): string | null {
  if (typeof url !== 'string') return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const exact = u.protocol === 'https:' && u.username === '' && u.password === '' && u.port === '' && u.search === '' && u.hash === '';
  return exact && u.pathname.replace(/\/$/, '') === path && SHOP_HOST.test(u.hostname) ? u.hostname : null;
}

// Importing the secret is a fixed cost of every verification: do it once per secret.
const secretKeys = new BoundedMap<string, KeyObject>(16);
function keyFor(secret: string): KeyObject {
  let key = secretKeys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    secretKeys.set(secret, key);
  }
  return key;
}

// App Bridge sends the same token with every request for its minute of
// life: a token whose signature and claims were verified is remembered (by
// secret, audience and the token's exact bytes) with its validity window, so
// its next requests cost a map lookup and the time check instead of an HMAC.
// Only verified tokens are kept; bounded, oldest dropped first.
const CLOCK_TOLERANCE_S = 10;
export const MAX_LIFETIME_S = 300;
const VERIFIED_MAX = 10_000;
interface Verified {
  claims: SessionClaims;
  nbf: number;
  exp: number;
}
const verified = new BoundedMap<string, Verified>(VERIFIED_MAX);

export async function verifySessionToken(
  token: string,
  opts: { apiKey: string; apiSecret: string; now?: Date },
): Promise<SessionClaims> {
  const nowS = (opts.now ?? new Date()).getTime() / 1000;
  const cacheKey = `${opts.apiSecret}\u0000${opts.apiKey}\u0000${token}`;
  const known = verified.get(cacheKey);
  if (known) {
    if (nowS >= known.exp + CLOCK_TOLERANCE_S) throw new AppError('UNAUTHENTICATED', 'Session token expired');
    if (nowS >= known.nbf - CLOCK_TOLERANCE_S) return known.claims;
    // Presented before its nbf (a clock moved): verified afresh below.
  }
  try {
    const { payload } = await jwtVerify(token, keyFor(opts.apiSecret), {
      algorithms: ['HS256'],
      audience: opts.apiKey,
      clockTolerance: CLOCK_TOLERANCE_S,
      currentDate: opts.now,
      // Also refuses an iat in the future (beyond the skew).
      maxTokenAge: MAX_LIFETIME_S,
      requiredClaims: ['exp', 'nbf', 'iat', 'iss', 'dest'],
    });
    // exp - iat bounds the lifetime; with iat not in the future, exp is at most MAX_LIFETIME_S (+ skew) from now.
    if ((payload.exp as number) - (payload.iat as number) > MAX_LIFETIME_S) throw new AppError('UNAUTHENTICATED', 'Session token lives too long');
    const dest = shopOf(payload.dest, '');
    const iss = shopOf(payload.iss, '/admin');
    if (!dest || !iss || dest !== iss) throw new AppError('UNAUTHENTICATED', 'Session token names no valid shop');
    const claims = { shopDomain: dest, userId: typeof payload.sub === 'string' ? payload.sub : undefined, sessionId: typeof payload.sid === 'string' ? payload.sid : undefined };
    // requiredClaims made jose check that both are there and numeric.
    verified.set(cacheKey, { claims, nbf: payload.nbf as number, exp: payload.exp as number });
    return claims;
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof joseErrors.JOSEError) {
      const reason = err instanceof joseErrors.JWTExpired ? 'Session token expired' : 'Session token invalid';
      throw new AppError('UNAUTHENTICATED', reason);
    }
    throw err;
  }
}
