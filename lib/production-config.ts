// What NODE_ENV=production demands beyond the schema (lib/config.ts). Every
// default secret in this repository is public, so a production process that
// would run on one (or on anything guessable) refuses to start instead.
// Pure functions over the explicit environment: a value counts only if it was
// set, never because a development default filled it in.

/** The processes that read the configuration, each with the secrets it uses. */
export type ConfigUser = 'api' | 'worker' | 'links' | 'tool';

export const SECRET_NAMES = [
  'SHOPIFY_API_KEY',
  'SHOPIFY_API_SECRET',
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'SMS_WEBHOOK_SECRET',
  'SMS_WEBHOOK_SECRET_PREVIOUS',
  'SMS_PROVIDER_API_KEY',
  'PHONE_HASH_KEY',
  'LINK_SIGNING_KEY',
  'METRICS_TOKEN',
  'INTERNAL_SIGNING_SECRET',
  'SHOP_TOKEN_ENCRYPTION_KEY',
  'SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS',
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/**
 * Secrets a process cannot start without in production. INTERNAL_SIGNING_SECRET
 * is optional (unset = no /internal routes), SMS_WEBHOOK_SECRET_PREVIOUS is
 * set only during a rotation, as is SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS.
 * SHOP_TOKEN_ENCRYPTION_KEY is the api's (it stores the tokens it exchanges)
 * and the worker's (Admin API calls of jobs). Tools (migrate, ops, chaos) need none, but any
 * secret set for them is still checked. PHONE_HASH_KEY is the api's too: an
 * inbound STOP is applied inline, keyed by that hash. LINK_SIGNING_KEY is
 * both's: the worker signs short-link codes, the api verifies them; the
 * link redirector (links) verifies them too and guards its /metrics.
 */
export const REQUIRED_SECRETS: Record<ConfigUser, readonly SecretName[]> = {
  api: ['SHOPIFY_API_KEY', 'SHOPIFY_API_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'SMS_WEBHOOK_SECRET', 'PHONE_HASH_KEY', 'LINK_SIGNING_KEY', 'METRICS_TOKEN', 'SHOP_TOKEN_ENCRYPTION_KEY'],
  worker: ['SMS_PROVIDER_API_KEY', 'PHONE_HASH_KEY', 'LINK_SIGNING_KEY', 'METRICS_TOKEN', 'SHOP_TOKEN_ENCRYPTION_KEY'],
  links: ['LINK_SIGNING_KEY', 'METRICS_TOKEN'],
  tool: [],
};

/**
 * Every development, test, demo and example value of a secret in this
 * repository (lib/config.ts defaults, .env.example, test/env.ts, the stack,
 * the simulator and the test helpers). The one list: config.test.ts checks
 * that each of those files only uses values named here.
 */
export const KNOWN_DEV_SECRETS: ReadonlySet<string> = new Set([
  // lib/config.ts defaults, .env.example, the simulator's defaults
  'dev-shopify-api-key', 'dev-shopify-api-secret', 'sk_test_dev', 'whsec_dev', 'dev-sms-api-key', 'dev-sms-webhook-secret',
  'dev-phone-hash-key-not-secret', 'dev-link-signing-key-not-secret',
  // lib/config.ts default of SHOP_TOKEN_ENCRYPTION_KEY (also in .env.example)
  '5d0c9e1f7a2b4c6d8e0f1a3b5c7d9e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d',
  // test/env.ts and the test helpers
  'test-shopify-key', 'test-shopify-secret', 'sk_test_123', 'whsec_test_secret', 'test-sms-webhook-secret',
  'test-internal-signing-secret', 'test-api-key', 'test-webhook-secret', 'test-secret', 'test-sim-api-key',
  'sk_test_signing_only', 'sk_test_x',
  // scripts/lib/stack.ts (demo, bench, chaos)
  'demo-sms-api-key', 'demo-sms-webhook-secret', 'demo-shopify-api-key', 'demo-shopify-api-secret', 'whsec_stack_local',
]);

/** The development key of shop tokens (lib/config.ts default): public, refused in production. */
export const DEV_SHOP_TOKEN_ENCRYPTION_KEY = '5d0c9e1f7a2b4c6d8e0f1a3b5c7d9e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d';

const MIN_SECRET_LENGTH = 32;
const MIN_DISTINCT_CHARS = 8;
const MIN_BITS_PER_CHAR = 2.5;
const REPEAT_RUN = 8;

/** Shannon entropy of the character distribution, in bits per character. */
export function shannonBitsPerChar(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

function hasRepeatedRun(s: string): boolean {
  const seen = new Set<string>();
  for (let i = 0; i + REPEAT_RUN <= s.length; i++) {
    const run = s.slice(i, i + REPEAT_RUN);
    if (seen.has(run)) return true;
    seen.add(run);
  }
  return false;
}

/**
 * Why `random` does not look random, or null. Thresholds leave a freshly
 * generated 32-hex-character secret (the weakest alphabet in use: 128 bits)
 * room to pass: over 200 000 samples none had fewer than 8 distinct
 * characters or less than 2.7 bits per character.
 */
export function weakness(random: string, minLength = MIN_SECRET_LENGTH): string | null {
  if (random.length < minLength) return `too short (${random.length} characters; at least ${minLength} random characters required)`;
  const distinct = new Set(random).size;
  if (distinct < MIN_DISTINCT_CHARS || shannonBitsPerChar(random) < MIN_BITS_PER_CHAR) {
    return `too little entropy (${distinct} distinct characters; at least ${MIN_DISTINCT_CHARS} and ${MIN_BITS_PER_CHAR} bits per character required)`;
  }
  if (hasRepeatedRun(random)) return `too little entropy (repeats a ${REPEAT_RUN}-character run)`;
  return null;
}

const STRIPE_SECRET_KEY = /^(?:sk|rk)_(?:live|test)_([A-Za-z0-9]+)$/;
const STRIPE_WEBHOOK_SECRET = /^whsec_([A-Za-z0-9+/=]+)$/;

/** A 32-byte key as 64 hex characters or base64 (AES-256-GCM for shop tokens). */
export function decodeEncryptionKey(value: string): Buffer | null {
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const bytes = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
    return bytes.length === 32 ? bytes : null;
  }
  return null;
}

function encryptionKeyProblem(value: string): string | null {
  const key = decodeEncryptionKey(value);
  if (!key) return 'must be 32 bytes as 64 hex characters or base64';
  return new Set(key).size < 16 ? 'too little entropy (generate it: openssl rand -hex 32)' : null;
}

/** The problem with one secret's value in production, or null. */
function secretProblem(name: SecretName, value: string): string | null {
  if (KNOWN_DEV_SECRETS.has(value)) return 'is a development value published in this repository';
  switch (name) {
    case 'SHOPIFY_API_KEY':
      // The client id is public (it is in every session token's aud): being
      // the real app's id is what matters, not secrecy. Shopify's are 32 hex.
      return value.length < 16 ? `too short (${value.length} characters; Shopify client ids are 32)` : null;
    case 'STRIPE_SECRET_KEY': {
      const m = STRIPE_SECRET_KEY.exec(value);
      if (!m) return 'not a Stripe secret or restricted key (sk_live_, sk_test_, rk_live_ or rk_test_)';
      return weakness(m[1] ?? '', 24);
    }
    case 'STRIPE_WEBHOOK_SECRET': {
      const m = STRIPE_WEBHOOK_SECRET.exec(value);
      if (!m) return 'not a Stripe webhook signing secret (whsec_…)';
      return weakness(m[1] ?? '', 24);
    }
    case 'SHOP_TOKEN_ENCRYPTION_KEY':
      return encryptionKeyProblem(value);
    case 'SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS':
      for (const k of value.split(',')) {
        const problem = KNOWN_DEV_SECRETS.has(k.trim()) ? 'is a development value published in this repository' : encryptionKeyProblem(k.trim());
        if (problem) return `one key: ${problem}`;
      }
      return null;
    default:
      return weakness(value);
  }
}

/**
 * Every reason a production process must not start, one line each (the
 * variable first, never its value). Empty outside production.
 */
export function productionProblems(env: Readonly<Record<string, string | undefined>>, user: ConfigUser): string[] {
  if (env.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  for (const name of SECRET_NAMES) {
    const value = env[name];
    if (value === undefined) {
      if (REQUIRED_SECRETS[user].includes(name)) problems.push(`${name}: required in production (the development default is public)`);
      continue;
    }
    const problem = secretProblem(name, value);
    if (problem) problems.push(`${name}: ${problem}`);
  }
  if (user === 'tool') return problems;
  if (user === 'links') return [...problems, ...publicUrlProblems(env)];
  if ((env.SMS_PROVIDER ?? 'simulator') === 'simulator') problems.push('SMS_PROVIDER: the simulator is a development tool; set a real provider in production');
  if (env.STRIPE_API_BASE !== undefined) problems.push('STRIPE_API_BASE: only for tests (a local Stripe fake); unset it in production');
  if (env.SHOPIFY_ADMIN_API_BASE !== undefined) problems.push('SHOPIFY_ADMIN_API_BASE: only for development and tests (a local Shopify fake); unset it in production');
  if (env.SHOPIFY_SYNC_ON_INSTALL !== undefined && !['true', '1'].includes(env.SHOPIFY_SYNC_ON_INSTALL)) {
    problems.push('SHOPIFY_SYNC_ON_INSTALL: must stay on in production (an installed shop would start with no subscribers)');
  }
  if (env.SMS_QUIET_HOURS_FLOOR !== undefined && !['true', '1'].includes(env.SMS_QUIET_HOURS_FLOOR)) {
    problems.push('SMS_QUIET_HOURS_FLOOR: must stay on in production (US and Canadian numbers may not be texted before 08:00 or after 21:00 local)');
  }
  if (env.SHOPIFY_INSTALL_BY_EXCHANGE !== undefined && !['true', '1'].includes(env.SHOPIFY_INSTALL_BY_EXCHANGE)) {
    problems.push('SHOPIFY_INSTALL_BY_EXCHANGE: must stay on in production (without it no shop gets an Admin API token)');
  }
  return [...problems, ...publicUrlProblems(env)];
}

/** The public URLs recipients and Shopify reach: https only. */
function publicUrlProblems(env: Readonly<Record<string, string | undefined>>): string[] {
  const problems: string[] = [];
  const base = env.PUBLIC_BASE_URL;
  if (base === undefined) problems.push('PUBLIC_BASE_URL: required in production (the public https URL of the api)');
  else if (!/^https:\/\//i.test(base)) problems.push('PUBLIC_BASE_URL: must be https in production');
  if (env.PUBLIC_LINK_BASE !== undefined && !/^https:\/\//i.test(env.PUBLIC_LINK_BASE)) problems.push('PUBLIC_LINK_BASE: must be https in production');
  return problems;
}
