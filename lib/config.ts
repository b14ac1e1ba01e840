import { z } from 'zod';
import { DEV_SHOP_TOKEN_ENCRYPTION_KEY, decodeEncryptionKey, productionProblems, type ConfigUser } from './production-config';
import { parseClusterNodes } from './redis';

export type { ConfigUser } from './production-config';

// Every variable of design.md, with local defaults so `npm run dev` works
// without a .env. Parsed once at start; a bad value stops the process before
// anything listens (see loadConfigOrExit). With NODE_ENV=production the
// defaults of secrets do not count: lib/production-config.ts says what must
// be set, and how strong.

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

// The proxies in front of the api or the redirector, each appending the
// address it saw to X-Forwarded-For: the client is the entry that many from
// the right (`true` is one proxy, `false` or 0 none: the socket's address).
// Never the left-most entry, which the client itself writes: per-IP limits
// keyed by it bound nothing.
const proxyHops = z
  .string()
  .regex(/^(true|false|[0-9]{1,2})$/, 'true, false, or the number of proxies in front')
  .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v)));

// purchases.credits and purchases.amount are int4: a pack past it could be
// sold at Stripe and then never recorded. A free pack (amount 0) completes
// `no_payment_required`, which grants nothing (and must not: free credits).
const INT4_MAX = 2_147_483_647;
const packSchema = z.object({
  id: z.string().min(1).max(64),
  credits: z.number().int().positive().max(INT4_MAX),
  amount: z.number().int().positive().max(INT4_MAX),
  currency: z.string().regex(/^[a-z]{3}$/i).transform((c) => c.toLowerCase()),
});
export type CreditPack = z.infer<typeof packSchema>;

export const DEFAULT_CREDIT_PACKS: CreditPack[] = [
  { id: 'starter', credits: 1_000, amount: 1_000, currency: 'usd' },
  { id: 'growth', credits: 10_000, amount: 8_000, currency: 'usd' },
  { id: 'scale', credits: 100_000, amount: 60_000, currency: 'usd' },
];

const creditPacksEnv = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of {id, credits, amount, currency}' });
      return z.NEVER;
    }
  })
  // Checkout sells the first pack of an id: a second one would be listed at a price never charged.
  .pipe(z.array(packSchema).min(1).refine((packs) => new Set(packs.map((p) => p.id)).size === packs.length, 'pack ids must be unique'));

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** The longest click window a shop may set (720 h) plus 7 days: recipients attribution may still read. */
export const MIN_RECIPIENT_RETENTION_DAYS = 30 + 7;

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgresql://postgres@127.0.0.1:5432/sms_dev'),
  DATABASE_POOL_SIZE: positiveInt.max(200).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(15_000),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  // Seed nodes of a Redis Cluster (`host:port` or redis URLs, comma-separated):
  // set, every process uses the cluster and REDIS_URL is not read. Empty is unset.
  REDIS_CLUSTER_NODES: z
    .string()
    .transform((v) => v.trim() || undefined)
    .superRefine((v, ctx) => {
      if (v === undefined) return;
      try {
        parseClusterNodes(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `must be comma-separated host:port or redis URLs (${(err as Error).message})` });
      }
    })
    .optional(),
  PORT: port.default(3000),
  WORKER_METRICS_PORT: port.default(3001),
  // The short-link redirector's port when it runs as its own process (npm run start:links).
  LINKS_PORT: port.default(3002),
  WORKER_QUEUES: z.string().default('all'),
  // Send batches a worker process runs at once. More than the cores can run
  // only queues their statements in Postgres, in front of the report
  // callbacks' (docs/performance.md, fourteenth round: 6 against 8 on two cores).
  SEND_BATCH_CONCURRENCY: positiveInt.max(64).default(6),
  SHOPIFY_API_KEY: z.string().min(1).default('dev-shopify-api-key'),
  SHOPIFY_API_SECRET: z.string().min(1).default('dev-shopify-api-secret'),
  STRIPE_SECRET_KEY: z.string().min(1).default('sk_test_dev'),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).default('whsec_dev'),
  STRIPE_API_BASE: z.url().optional(),
  SMS_PROVIDER: z.enum(['simulator', 'mitto']).default('simulator'),
  SMS_PROVIDER_URL: z.url().default('http://127.0.0.1:4010'),
  SMS_PROVIDER_API_KEY: z.string().min(1).default('dev-sms-api-key'),
  SMS_WEBHOOK_SECRET: z.string().min(1).default('dev-sms-webhook-secret'),
  // The secret being rotated out, still accepted on SMS callbacks until the
  // provider uses the new one (docs/webhooks.md, rotation).
  SMS_WEBHOOK_SECRET_PREVIOUS: z.string().min(1).optional(),
  SMS_SIMULATOR_PORT: port.default(4010),
  SMS_DEFAULT_SENDER: z.string().min(1).max(15).default('Marketing'),
  // HMAC-SHA256 key of opt-outs kept for numbers a shop does not hold
  // (sms_suppressions). Long-lived: changing it forgets those opt-outs (see
  // docs/webhooks.md, "Inbound texts").
  PHONE_HASH_KEY: z.string().min(16).default('dev-phone-hash-key-not-secret'),
  SMS_PROVIDER_MPS: positiveInt.default(50_000),
  // Per provider request; a send still unanswered by then has an unknown outcome.
  SMS_PROVIDER_TIMEOUT_MS: positiveInt.default(10_000),
  // Whether the provider is known never to turn a repeated `reference` into a
  // second SMS. Off unless that is confirmed for the account (Mitto does not
  // document it): an unknown outcome is then recorded, never re-sent.
  SMS_PROVIDER_DEDUPS_BY_REFERENCE: bool.default(false),
  // The legal floor of quiet hours: US and Canadian numbers are never texted
  // before 08:00 or after 21:00 local, whatever the shop's setting. Off only
  // in tests that are not about quiet hours (test/env.ts) and the development
  // stacks (scripts/lib/stack.ts), so they do not depend on the hour they run
  // at; production refuses it off.
  SMS_QUIET_HOURS_FLOOR: bool.default(true),
  PUBLIC_BASE_URL: z.url().default('http://127.0.0.1:3000'),
  // Campaign short links are `<PUBLIC_LINK_BASE>/<code>` (default: the api's
  // PUBLIC_BASE_URL): an origin, optionally with a path, no query or fragment,
  // GSM-7 characters only (its length is part of every message's segments).
  PUBLIC_LINK_BASE: z
    .url({ protocol: /^https?$/ })
    .refine((v) => /^https?:\/\/[A-Za-z0-9.:\-[\]]+(\/[A-Za-z0-9._~\-/]*)?$/.test(v) && !v.endsWith('/'), 'must be http(s)://host[/path] without a trailing slash, query or fragment')
    .optional(),
  // HMAC-SHA256 key of short-link codes: long-lived, changing it breaks every
  // link already sent (docs/architecture.md, "Links, clicks and attribution").
  LINK_SIGNING_KEY: z.string().min(16).default('dev-link-signing-key-not-secret'),
  // utm_medium of every redirect.
  LINK_UTM_MEDIUM: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/).default('sms-marketing'),
  // Per client IP and minute: clicks recorded (a valid code is always
  // redirected), and unknown codes answered before 429.
  LINK_CLICKS_PER_IP_PER_MIN: positiveInt.default(600),
  LINK_MISSES_PER_IP_PER_MIN: positiveInt.default(30),
  // Optional outside production, required there (lib/production-config.ts).
  METRICS_TOKEN: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  QUEUE_PREFIX: z.string().min(1).default('{sms}'),
  INTERNAL_SIGNING_SECRET: z.string().min(16).optional(),
  // AES-256-GCM key of shop access tokens, 32 bytes (hex or base64); the
  // default is a public development key, refused in production.
  SHOP_TOKEN_ENCRYPTION_KEY: z
    .string()
    .refine((v) => decodeEncryptionKey(v) !== null, 'must be 32 bytes as 64 hex characters or base64')
    .default(DEV_SHOP_TOKEN_ENCRYPTION_KEY),
  // Keys rotated out, comma-separated: tokens under them are still read (and
  // re-encrypted with the current key on use). docs/shopify.md, rotation.
  SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS: z
    .string()
    .refine((v) => v.split(',').every((k) => decodeEncryptionKey(k.trim()) !== null), 'must be comma-separated 32-byte keys (64 hex characters or base64)')
    .optional(),
  // Where the Shopify library sends Admin API calls instead of https://<shop>
  // (a local fake); refused in production.
  SHOPIFY_ADMIN_API_BASE: z.url({ protocol: /^https?$/ }).optional(),
  // The first authenticated request of a shop without a token exchanges its
  // session token (docs/shopify.md); off only in tests that do not play Shopify.
  SHOPIFY_INSTALL_BY_EXCHANGE: bool.default(true),
  // A shop's first token exchange queues the initial customer sync (docs/shopify.md
  // "Customer sync"); off only in tests that do not look at syncs.
  SHOPIFY_SYNC_ON_INSTALL: bool.default(true),
  // Bound of one Shopify HTTP call (token exchange, Admin GraphQL).
  SHOPIFY_API_TIMEOUT_MS: positiveInt.max(60_000).default(5_000),
  QUEUE_MAX_DEPTH: positiveInt.default(10_000),
  SEND_BATCH_SIZE: positiveInt.max(1000).default(1000),
  SEND_LEASE_MS: positiveInt.default(60_000),
  RECONCILE_EVERY_MS: positiveInt.default(60_000),
  STUCK_AFTER_MS: positiveInt.default(600_000),
  // A worker whose fetch of its next job has not returned for this long while
  // Redis answers is replaced (apps/worker/src/fetch-watchdog.ts); a healthy
  // fetch returns within ~11 s.
  WORKER_FETCH_STUCK_MS: positiveInt.min(15_000).default(60_000),
  // Finished webhook events outlive every sender's retry window (Stripe: 3 days).
  WEBHOOK_RETENTION_MS: positiveInt.default(14 * 24 * 3600_000),
  OUTBOX_RETENTION_MS: positiveInt.default(7 * 24 * 3600_000),
  // Dead outbox events (set aside after their job schema kept refusing them)
  // wait this long for the on-call's requeue, then are pruned: at least a
  // day, so none goes before anyone could look; at most a year.
  OUTBOX_DEAD_RETENTION_MS: positiveInt.min(24 * 3600_000).max(365 * 24 * 3600_000).default(30 * 24 * 3600_000),
  // Recipients of a campaign finished this long ago are deleted (its stats
  // frozen first: domain/campaigns/prune-campaign-recipients.ts). Order
  // attribution reads them for up to the longest click window a shop may set
  // (720 h, domain/shops/update-shop-settings.ts); a week more covers late
  // orders webhooks and delivery reports.
  RECIPIENT_RETENTION_DAYS: positiveInt.min(MIN_RECIPIENT_RETENTION_DAYS).default(180),
  IDEMPOTENCY_LEASE_MS: positiveInt.default(60_000),
  IDEMPOTENCY_COMPLETED_TTL_MS: positiveInt.default(7 * 24 * 3600_000),
  IDEMPOTENCY_FAILED_TTL_MS: positiveInt.default(24 * 3600_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  // How long an api process reuses a shop row it read (0: read it on every request).
  SHOP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
  // Per shop and minute, by route group (apps/api/src/middleware/rate-limit.ts).
  RATE_LIMIT_GENERAL_PER_MIN: positiveInt.default(600),
  RATE_LIMIT_CAMPAIGNS_PER_MIN: positiveInt.default(120),
  RATE_LIMIT_IMPORTS_PER_MIN: positiveInt.default(10),
  RATE_LIMIT_BILLING_PER_MIN: positiveInt.default(30),
  CREDIT_PACKS: creditPacksEnv.optional(),
  TRUST_PROXY: proxyHops.default(0),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses an environment; throws ConfigError listing every problem, one per
 * line. `user` picks the secrets production requires (a tool such as migrate
 * needs none; the api and the worker need the ones they use).
 */
export function parseConfig(env: NodeJS.ProcessEnv, user: ConfigUser = 'tool'): Config {
  // Empty strings mean "unset" so a blank line in .env does not override a default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')) as Record<string, string>;
  const result = configSchema.safeParse(cleaned);
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  // A variable the schema refused is reported once, by the schema.
  const refused = new Set(problems.map((p) => p.split(':')[0]));
  problems.push(...productionProblems(cleaned, user).filter((p) => !refused.has(p.split(':')[0])));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

export function creditPacks(config: Config): CreditPack[] {
  return config.CREDIT_PACKS ?? DEFAULT_CREDIT_PACKS;
}

let cached: Config | undefined;

/** The process-wide config: parsed on first use, then the same object. */
export function getConfig(user: ConfigUser = 'tool'): Config {
  cached ??= parseConfig(process.env, user);
  return cached;
}

/** For entry points: on a bad environment print the list and exit 1, before anything listens. */
export function loadConfigOrExit(user: ConfigUser = 'tool'): Config {
  try {
    return getConfig(user);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Tests build configs from overrides without touching process.env. */
export function resetConfigForTests(): void {
  cached = undefined;
}
