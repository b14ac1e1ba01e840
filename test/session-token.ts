import { SignJWT } from 'jose';

/** A Shopify-style session token, signed as App Bridge would sign it. */
export async function sessionToken(
  shopDomain: string,
  opts: { apiKey?: string; secret?: string; expiresInSec?: number; nbfOffsetSec?: number; iss?: string; dest?: string; now?: Date; iatOffsetSec?: number | null } = {},
): Promise<string> {
  const nowSec = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const jwt = new SignJWT({ dest: opts.dest ?? `https://${shopDomain}`, sid: 'session-1' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(opts.iss ?? `https://${shopDomain}/admin`)
    .setAudience(opts.apiKey ?? process.env.SHOPIFY_API_KEY ?? 'test-shopify-key')
    .setSubject('42');
  // null: no iat claim at all.
  if (opts.iatOffsetSec !== null) jwt.setIssuedAt(nowSec + (opts.iatOffsetSec ?? 0));
  return jwt
    .setNotBefore(nowSec + (opts.nbfOffsetSec ?? 0))
    .setExpirationTime(nowSec + (opts.expiresInSec ?? 60))
    .setJti(`jti-${Math.random().toString(36).slice(2)}`)
    .sign(new TextEncoder().encode(opts.secret ?? process.env.SHOPIFY_API_SECRET ?? 'test-shopify-secret'));
}
