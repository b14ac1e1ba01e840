import { randomBytes } from 'node:crypto';

// Fresh, random production secrets of the shape each vendor issues, for the
// production start check (scripts/production-start-check.ts) and the tests
// that start real processes with NODE_ENV=production. Never reused: every
// call generates new values.

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

export function generatedProductionSecrets(): Record<string, string> {
  return {
    SHOPIFY_API_KEY: hex(16),
    SHOPIFY_API_SECRET: `shpss_${hex(16)}`,
    STRIPE_SECRET_KEY: `sk_live_${hex(24)}`,
    STRIPE_WEBHOOK_SECRET: `whsec_${hex(16)}`,
    SMS_WEBHOOK_SECRET: hex(32),
    SMS_PROVIDER_API_KEY: hex(24),
    PHONE_HASH_KEY: hex(32),
    LINK_SIGNING_KEY: hex(32),
    METRICS_TOKEN: hex(32),
    INTERNAL_SIGNING_SECRET: hex(32),
    SHOP_TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
}

/**
 * A whole production environment except where the services are: secrets
 * above, a real provider (pointed at a closed loopback port: starting needs
 * no provider) and an https public URL.
 */
export function productionEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    ...generatedProductionSecrets(),
    SMS_PROVIDER: 'mitto',
    SMS_PROVIDER_URL: 'http://127.0.0.1:9',
    PUBLIC_BASE_URL: 'https://sms.example.com',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}
