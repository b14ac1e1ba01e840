// A client of the embedded-app API as the Shopify admin would call it: every
// request carries a fresh session token (HS256, signed with the app secret)
// for one shop. Shared by the demo, the benchmark and the chaos suite.

import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiClient {
  call<T>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  /** A session token for the shop, valid for `ttlSec` (load generators reuse one instead of signing per request). */
  token(ttlSec?: number): Promise<string>;
}

/** The app's secrets as the stack's processes see them. */
export interface AppSecrets {
  SHOPIFY_API_KEY?: string;
  SHOPIFY_API_SECRET?: string;
}

export function sessionTokenFor(shopDomain: string, env: AppSecrets, ttlSec = 300): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ dest: `https://${shopDomain}`, sid: 'stack' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(`https://${shopDomain}/admin`)
    .setAudience(env.SHOPIFY_API_KEY ?? '')
    .setSubject('1')
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + ttlSec)
    .setJti(randomUUID())
    .sign(new TextEncoder().encode(env.SHOPIFY_API_SECRET ?? ''));
}

/**
 * `base` is the API's `/api` root. A 429 is waited out as the API says
 * (Retry-After), up to five times, like a well-behaved client.
 */
export function apiClient(base: string, shopDomain: string, env: AppSecrets): ApiClient {
  return {
    token: (ttlSec = 300) => sessionTokenFor(shopDomain, env, ttlSec),
    async call(method, route, body, headers = {}) {
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${base}${route}`, {
          method,
          headers: { authorization: `Bearer ${await sessionTokenFor(shopDomain, env)}`, 'content-type': 'application/json', ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status === 429 && attempt < 5) {
          await new Promise((r) => setTimeout(r, 1_000 * Number(res.headers.get('retry-after') ?? '1')));
          continue;
        }
        return { status: res.status, body: (text ? JSON.parse(text) : null) as never, headers: res.headers };
      }
    },
  };
}
