import { createSecretKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { AppError } from '../../lib/errors';

// Shopify session tokens (App Bridge): HS256 JWTs signed with the app's API
// secret. jose checks the signature, exp and nbf (10 s skew) and aud; we add
// the Shopify rule that iss and dest name the same *.myshopify.com shop.

const SHOP_HOST = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;

export interface SessionClaims {
  shopDomain: string;
  userId?: string;
  sessionId?: string;
}

function hostOf(url: unknown): string | null {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && SHOP_HOST.test(u.hostname) ? u.hostname : null;
  } catch {
    return null;
  }
}

// Importing the secret is a fixed cost of every verification: do it once per secret.
const secretKeys = new Map<string, KeyObject>();
function keyFor(secret: string): KeyObject {
  let key = secretKeys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    if (secretKeys.size > 16) secretKeys.clear();
    secretKeys.set(secret, key);
  }
  return key;
}

export async function verifySessionToken(
  token: string,
  opts: { apiKey: string; apiSecret: string; now?: Date },
): Promise<SessionClaims> {
  try {
    const { payload } = await jwtVerify(token, keyFor(opts.apiSecret), {
      algorithms: ['HS256'],
      audience: opts.apiKey,
      clockTolerance: 10,
      currentDate: opts.now,
      requiredClaims: ['exp', 'nbf', 'iss', 'dest'],
    });
    const dest = hostOf(payload.dest);
    const iss = hostOf(typeof payload.iss === 'string' ? payload.iss.replace(/\/admin\/?$/, '') : undefined);
    if (!dest || !iss || dest !== iss) throw new AppError('UNAUTHENTICATED', 'Session token names no valid shop');
    return { shopDomain: dest, userId: typeof payload.sub === 'string' ? payload.sub : undefined, sessionId: typeof payload.sid === 'string' ? payload.sid : undefined };
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof joseErrors.JOSEError) {
      const reason = err instanceof joseErrors.JWTExpired ? 'Session token expired' : 'Session token invalid';
      throw new AppError('UNAUTHENTICATED', reason);
    }
    throw err;
  }
}
