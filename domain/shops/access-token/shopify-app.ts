import { ApiVersion, LogSeverity, shopifyApi, type Shopify } from '@shopify/shopify-api';
import type { Logger } from 'pino';
import type { Config } from '../../../lib/config';

// The one @shopify/shopify-api instance of a process (token exchange and the
// Admin GraphQL client), and the fetch every call of the library goes
// through: bounded by SHOPIFY_API_TIMEOUT_MS and, outside production, pointed
// at SHOPIFY_ADMIN_API_BASE (a local fake) instead of https://<shop>.

export const SHOPIFY_API_VERSION = ApiVersion.October25;
export const APP_SCOPES = ['read_customers', 'write_customers', 'read_orders'] as const;

/** The header through which a redirected call tells the fake which shop it is for. */
export const SHOP_HEADER = 'X-Shopify-Shop-Domain';
const SHOP_URL = /^https:\/\/([a-z0-9][a-z0-9-]*\.myshopify\.com)(\/.*)?$/;

interface FetchSettings {
  base?: string;
  timeoutMs: number;
}
// The library reads its fetch from a module-level slot (runtime adapter), so
// these settings are per process too; the last configured instance sets them.
const settings: FetchSettings = { timeoutMs: 5_000 };

/** `https://<shop>.myshopify.com/admin/...` → `<base>/admin/...` plus the shop header; any other URL unchanged. */
export function redirectedRequest(url: string, init: RequestInit | undefined, base: string | undefined): { url: string; init: RequestInit | undefined } {
  if (!base) return { url, init };
  const m = SHOP_URL.exec(url);
  if (!m) return { url, init };
  const headers = new Headers(init?.headers);
  headers.set(SHOP_HEADER, m[1]!);
  return { url: `${base.replace(/\/+$/, '')}${m[2] ?? '/'}`, init: { ...init, headers } };
}

const boundedFetch = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const target = redirectedRequest(url, init, settings.base);
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal = target.init?.signal ? AbortSignal.any([target.init.signal, timeout]) : timeout;
  return fetch(target.url, { ...target.init, signal });
};
// Required, not imported: the project resolves modules the node10 way, which
// ignores the package's `exports` and would type-check its .ts sources.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('@shopify/shopify-api/adapters/node');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtime = require('@shopify/shopify-api/runtime') as { setAbstractFetchFunc(f: typeof fetch): void };
runtime.setAbstractFetchFunc(boundedFetch);

const instances = new WeakMap<Config, Shopify>();

const SEVERITY: Record<LogSeverity, 'error' | 'warn' | 'info' | 'debug'> = {
  [LogSeverity.Error]: 'error',
  [LogSeverity.Warning]: 'warn',
  [LogSeverity.Info]: 'info',
  [LogSeverity.Debug]: 'debug',
};

/** The library configured from the environment, one per config object. */
export function shopifyApp(config: Config, logger?: Logger): Shopify {
  let app = instances.get(config);
  if (app) return app;
  // Production refuses SHOPIFY_ADMIN_API_BASE (lib/production-config.ts); the check here keeps a bypass from mattering.
  settings.base = config.NODE_ENV === 'production' ? undefined : config.SHOPIFY_ADMIN_API_BASE;
  settings.timeoutMs = config.SHOPIFY_API_TIMEOUT_MS;
  const host = new URL(config.PUBLIC_BASE_URL);
  app = shopifyApi({
    apiKey: config.SHOPIFY_API_KEY,
    apiSecretKey: config.SHOPIFY_API_SECRET,
    scopes: [...APP_SCOPES],
    hostName: host.host,
    hostScheme: host.protocol === 'http:' ? 'http' : 'https',
    apiVersion: SHOPIFY_API_VERSION,
    isEmbeddedApp: true,
    // The library's own lines go to pino (redacted) at warn and above; it
    // never logs HTTP requests (their bodies carry the session token).
    logger: {
      level: LogSeverity.Warning,
      httpRequests: false,
      timestamps: false,
      log: (severity, msg) => logger?.[SEVERITY[severity]]({ source: 'shopify-api' }, msg),
    },
  });
  instances.set(config, app);
  return app;
}
