import { freePort } from '../../scripts/lib/stack';
import { productionEnv } from '../../scripts/lib/production-env';
import { createTestEnv, type TestEnv } from '../harness';
import { portOpen, startService, waitForOk, type ServiceName } from '../../scripts/lib/service-process';

// Attack: start the stack with NODE_ENV=production and nothing (or the
// repository's published development values) set, then forge a session token,
// a Stripe checkout.session.completed and an inbound STOP with those public
// secrets. Closed by refusing to start: with no process listening there is
// nothing to send the forgeries to, so this test is about the start itself.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const PORT_VAR: Record<ServiceName, string> = { api: 'PORT', worker: 'WORKER_METRICS_PORT', 'sms-simulator': 'SMS_SIMULATOR_PORT' };

function services(port: number, name: ServiceName): Record<string, string> {
  return { DATABASE_URL: env.config.DATABASE_URL, REDIS_URL: env.config.REDIS_URL, QUEUE_PREFIX: env.prefix, [PORT_VAR[name]]: String(port), LOG_LEVEL: 'warn' };
}

/** The variables named by the "  - NAME: reason" lines, in order. */
function problemNames(stderr: string): string[] {
  return stderr.split('\n').flatMap((l) => /^\s+- ([A-Z_]+): /.exec(l)?.[1] ?? []);
}

async function refused(name: ServiceName, vars: Record<string, string>): Promise<{ stderr: string; names: string[] }> {
  const port = await freePort();
  const svc = startService(name, { ...services(port, name), ...vars });
  // A process that is still up after 15 s started: say whether it listens, then stop it.
  const outcome = await Promise.race([svc.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000).unref())]);
  if (outcome === 'running') {
    const listening = await portOpen(port);
    await svc.stop();
    throw new Error(`${name} started in production (listening on ${port}: ${listening})`);
  }
  expect(svc.output()).not.toMatch(/listening|worker started/);
  expect(outcome.code).toBe(1);
  expect(await portOpen(port)).toBe(false);
  expect(svc.stderr()).not.toMatch(/at .*\.ts:\d+/); // a list, not a stack trace
  return { stderr: svc.stderr(), names: problemNames(svc.stderr()) };
}

const REQUIRED: Record<'api' | 'worker', string[]> = {
  api: ['SHOPIFY_API_KEY', 'SHOPIFY_API_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'SMS_WEBHOOK_SECRET', 'PHONE_HASH_KEY', 'LINK_SIGNING_KEY', 'METRICS_TOKEN', 'SHOP_TOKEN_ENCRYPTION_KEY'],
  worker: ['SMS_PROVIDER_API_KEY', 'PHONE_HASH_KEY', 'LINK_SIGNING_KEY', 'METRICS_TOKEN', 'SHOP_TOKEN_ENCRYPTION_KEY'],
};

// The values of .env.example, test/env.ts and the demo stack: public.
const DEV_VALUES = {
  SHOPIFY_API_KEY: 'dev-shopify-api-key',
  SHOPIFY_API_SECRET: 'dev-shopify-api-secret',
  STRIPE_SECRET_KEY: 'sk_test_dev',
  STRIPE_WEBHOOK_SECRET: 'whsec_test_secret',
  SMS_WEBHOOK_SECRET: 'demo-sms-webhook-secret',
  SMS_PROVIDER_API_KEY: 'dev-sms-api-key',
  PHONE_HASH_KEY: 'dev-phone-hash-key-not-secret',
  LINK_SIGNING_KEY: 'dev-link-signing-key-not-secret',
  INTERNAL_SIGNING_SECRET: 'test-internal-signing-secret',
  SHOP_TOKEN_ENCRYPTION_KEY: '5d0c9e1f7a2b4c6d8e0f1a3b5c7d9e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d',
};

describe.each<'api' | 'worker'>(['api', 'worker'])('%s with NODE_ENV=production', (name) => {
  it('refuses to start with nothing set: one line per missing secret and unsafe default, nothing listens', async () => {
    const { names } = await refused(name, { NODE_ENV: 'production' });
    expect(names.sort()).toEqual([...REQUIRED[name], 'SMS_PROVIDER', 'PUBLIC_BASE_URL'].sort());
  }, 30_000);

  it('refuses the development values, weak values, the simulator, a Stripe or Shopify fake and plain http', async () => {
    const { stderr, names } = await refused(name, {
      NODE_ENV: 'production',
      ...DEV_VALUES,
      METRICS_TOKEN: 'metrics-metrics-metrics-metrics-metrics', // long, but one run repeated
      SMS_PROVIDER: 'simulator',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      SHOPIFY_ADMIN_API_BASE: 'http://127.0.0.1:4020',
      PUBLIC_BASE_URL: 'http://sms.example.com',
    });
    expect(names.sort()).toEqual([...Object.keys(DEV_VALUES), 'METRICS_TOKEN', 'SMS_PROVIDER', 'STRIPE_API_BASE', 'SHOPIFY_ADMIN_API_BASE', 'PUBLIC_BASE_URL'].sort());
    expect(stderr).toMatch(/SHOPIFY_API_SECRET: is a development value/);
    expect(stderr).toMatch(/METRICS_TOKEN: too little entropy/);
    for (const value of [...Object.values(DEV_VALUES), 'metrics-metrics']) expect(stderr).not.toContain(value); // never echoes a secret
  }, 30_000);

  it('refuses short or mis-shaped secrets', async () => {
    const { stderr } = await refused(name, {
      ...productionEnv(),
      SHOPIFY_API_SECRET: 'a1b2c3d4e5f6',
      STRIPE_SECRET_KEY: `pk_live_${'a1b2c3d4'.repeat(4)}`,
      SMS_PROVIDER_API_KEY: 'short-key',
      METRICS_TOKEN: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    });
    if (name === 'api') {
      expect(stderr).toMatch(/SHOPIFY_API_SECRET: too short/);
      expect(stderr).toMatch(/STRIPE_SECRET_KEY: not a Stripe secret or restricted key/);
    }
    expect(stderr).toMatch(/SMS_PROVIDER_API_KEY: too short/);
    expect(stderr).toMatch(/METRICS_TOKEN: too little entropy/);
  }, 30_000);

  it('starts with generated secrets, answers /health, and stops on SIGTERM', async () => {
    const port = await freePort();
    const svc = startService(name, { ...services(port, name), ...productionEnv() });
    try {
      await waitForOk(svc, `http://127.0.0.1:${port}/health`);
    } finally {
      expect((await svc.stop()).code).toBe(0);
    }
  }, 45_000);
});

it('the sms simulator refuses NODE_ENV=production with one clear line', async () => {
  const { stderr } = await refused('sms-simulator', { NODE_ENV: 'production' });
  expect(stderr.trim()).toBe('sms-simulator: refusing to start with NODE_ENV=production (the simulator is a development tool; use a real SMS provider)');
}, 30_000);
