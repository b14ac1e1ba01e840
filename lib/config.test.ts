import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { ConfigError, DEFAULT_CREDIT_PACKS, MIN_RECIPIENT_RETENTION_DAYS, configSchema, creditPacks, parseConfig } from './config';
import { KNOWN_DEV_SECRETS, SECRET_NAMES, productionProblems, type ConfigUser } from './production-config';
import { generatedProductionSecrets, productionEnv } from '../scripts/lib/production-env';

describe('parseConfig', () => {
  it('gives working local defaults for an empty environment', () => {
    const c = parseConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.QUEUE_PREFIX).toBe('{sms}');
    expect(c.SEND_LEASE_MS).toBe(60_000);
    expect(c.SMS_DEFAULT_SENDER).toBe('Marketing');
    expect(creditPacks(c)).toEqual(DEFAULT_CREDIT_PACKS);
  });

  it('lists every problem, one per variable', () => {
    let err: unknown;
    try {
      parseConfig({ DATABASE_URL: 'mysql://x', PORT: 'eighty', SMS_PROVIDER: 'twilio', SEND_BATCH_SIZE: '0', CREDIT_PACKS: 'not json' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    for (const name of ['DATABASE_URL', 'PORT', 'SMS_PROVIDER', 'SEND_BATCH_SIZE', 'CREDIT_PACKS']) {
      expect(problems.some((p) => p.startsWith(`${name}:`))).toBe(true);
    }
    expect(problems).toHaveLength(5);
  });

  it('treats empty strings as unset', () => {
    expect(parseConfig({ PORT: '', LOG_LEVEL: '' }).PORT).toBe(3000);
  });

  it('RECIPIENT_RETENTION_DAYS defaults to 180 and refuses less than the longest click window (30 days) + 7', () => {
    expect(parseConfig({}).RECIPIENT_RETENTION_DAYS).toBe(180);
    expect(MIN_RECIPIENT_RETENTION_DAYS).toBe(37);
    expect(parseConfig({ RECIPIENT_RETENTION_DAYS: '37' }).RECIPIENT_RETENTION_DAYS).toBe(37);
    expect(() => parseConfig({ RECIPIENT_RETENTION_DAYS: '36' })).toThrow(/RECIPIENT_RETENTION_DAYS/);
  });

  it('CREDIT_PACKS replaces the default packs', () => {
    const c = parseConfig({ CREDIT_PACKS: JSON.stringify([{ id: 'mini', credits: 100, amount: 150, currency: 'EUR' }]) });
    expect(creditPacks(c)).toEqual([{ id: 'mini', credits: 100, amount: 150, currency: 'eur' }]);
  });

  it.each([
    // purchases.credits and purchases.amount are int4: the INSERT after Stripe made the session would fail, every time.
    ['credits past int4', [{ id: 'huge', credits: 2_147_483_648, amount: 100, currency: 'usd' }]],
    ['an amount past int4', [{ id: 'dear', credits: 10, amount: 2_147_483_648, currency: 'usd' }]],
    // Free: completed `no_payment_required`, never `paid`, so never credited (and free credits if it were).
    ['a free pack', [{ id: 'free', credits: 10, amount: 0, currency: 'usd' }]],
    // Two packs under one id: the second is listed at its price, but checkout sells the first.
    [
      'two packs with one id',
      [
        { id: 'pro', credits: 10, amount: 100, currency: 'usd' },
        { id: 'pro', credits: 100_000, amount: 100, currency: 'usd' },
      ],
    ],
  ])('CREDIT_PACKS refuses %s', (_what, packs) => {
    expect(() => parseConfig({ CREDIT_PACKS: JSON.stringify(packs) })).toThrow(ConfigError);
  });
});

describe('production rules', () => {
  const problemsOf = (env: Record<string, string>, user: ConfigUser = 'api'): string[] => {
    try {
      parseConfig(env, user);
      return [];
    } catch (e) {
      return (e as ConfigError).problems;
    }
  };
  const named = (problems: string[], name: string): string[] => problems.filter((p) => p.startsWith(`${name}:`));

  it('accepts a production environment of generated secrets, for every process', () => {
    for (const user of ['api', 'worker', 'tool'] as const) expect(problemsOf(productionEnv(), user)).toEqual([]);
  });

  it('leaves development and test alone: defaults, and any value', () => {
    expect(problemsOf({}, 'api')).toEqual([]);
    expect(problemsOf({ NODE_ENV: 'test', SHOPIFY_API_SECRET: 'x', SMS_PROVIDER: 'simulator' }, 'api')).toEqual([]);
  });

  it.each([
    ['api', ['SHOPIFY_API_KEY', 'SHOPIFY_API_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'SMS_WEBHOOK_SECRET', 'PHONE_HASH_KEY', 'LINK_SIGNING_KEY', 'METRICS_TOKEN', 'SHOP_TOKEN_ENCRYPTION_KEY']],
    ['worker', ['SMS_PROVIDER_API_KEY', 'PHONE_HASH_KEY', 'LINK_SIGNING_KEY', 'METRICS_TOKEN', 'SHOP_TOKEN_ENCRYPTION_KEY']],
    ['tool', []],
  ] as const)('%s requires exactly the secrets it uses', (user, required) => {
    const env = productionEnv();
    for (const name of SECRET_NAMES) delete env[name];
    const problems = problemsOf(env, user);
    for (const name of SECRET_NAMES) expect(named(problems, name)).toEqual(required.includes(name as never) ? [`${name}: required in production (the development default is public)`] : []);
  });

  it('refuses every known development value, whoever uses it, and never prints it', () => {
    for (const name of SECRET_NAMES) {
      for (const dev of KNOWN_DEV_SECRETS) {
        const problems = named(problemsOf(productionEnv({ [name]: dev }), 'tool'), name);
        // One line each: the dev-value line, or the schema's where the shape is already wrong.
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(new RegExp(`^${name}: (is a development value published in this repository|one key: is a development value published in this repository|Too small|must be 32 bytes|must be comma-separated 32-byte keys)`));
        expect(problems.join()).not.toContain(dev);
      }
    }
  });

  it.each([
    ['SHOPIFY_API_SECRET', 'a1b2c3d4e5f6a7b8', /too short \(16 characters/],
    ['SMS_WEBHOOK_SECRET', 'ab'.repeat(20), /too little entropy \(2 distinct/],
    ['SMS_PROVIDER_API_KEY', 'password'.repeat(5), /too little entropy/],
    ['METRICS_TOKEN', `${'0123456789abcdef'}${'0123456789abcdef'}`, /repeats a 8-character run/],
    ['INTERNAL_SIGNING_SECRET', 'internal-signing-secret-2026', /too short/],
    ['STRIPE_SECRET_KEY', `pk_live_${'a1b2c3d4e5f6a7b8c9d0e1f2'}`, /not a Stripe secret or restricted key/],
    ['STRIPE_SECRET_KEY', 'sk_live_abc123', /too short/],
    ['STRIPE_SECRET_KEY', `sk_live_${'ab'.repeat(14)}`, /too little entropy/],
    ['STRIPE_WEBHOOK_SECRET', `whsec-${'a1b2c3d4e5f6a7b8c9d0e1f2'}`, /not a Stripe webhook signing secret/],
    ['STRIPE_WEBHOOK_SECRET', 'whsec_0123abcd', /too short/],
    ['SHOPIFY_API_KEY', 'my-app', /too short/],
    ['SHOP_TOKEN_ENCRYPTION_KEY', '00'.repeat(32), /too little entropy/],
  ])('refuses a weak %s', (name, value, reason) => {
    const problems = named(problemsOf(productionEnv({ [name]: value }), 'api'), name);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(reason);
  });

  it.each([
    ['STRIPE_SECRET_KEY', `sk_test_${'4eC39HqLyjWDarjtT1zdp7dc'}`],
    ['STRIPE_SECRET_KEY', `rk_live_${'51H8xkqLyjWDarjtT1zdp7dcABCD'}`],
    ['SHOPIFY_API_KEY', '3f0b6c1e2a4d4c8e'],
    ['SHOP_TOKEN_ENCRYPTION_KEY', generatedProductionSecrets().SHOP_TOKEN_ENCRYPTION_KEY!],
    ['SHOP_TOKEN_ENCRYPTION_KEY', generatedProductionSecrets().METRICS_TOKEN!], // 64 hex characters
  ])('accepts a strong %s (%s)', (name, value) => {
    expect(problemsOf(productionEnv({ [name]: value }), 'api')).toEqual([]);
  });

  it('reads a 32-byte key only: other lengths are refused in every environment', () => {
    expect(named(problemsOf({ SHOP_TOKEN_ENCRYPTION_KEY: 'abcd' }), 'SHOP_TOKEN_ENCRYPTION_KEY')).toHaveLength(1);
    expect(named(problemsOf({ SHOP_TOKEN_ENCRYPTION_KEY: Buffer.alloc(16, 7).toString('base64') }), 'SHOP_TOKEN_ENCRYPTION_KEY')).toHaveLength(1);
  });

  it('refuses the simulator, a Stripe API base and a plain-http public URL in the api and the worker', () => {
    for (const user of ['api', 'worker'] as const) {
      const problems = problemsOf(productionEnv({ SMS_PROVIDER: 'simulator', STRIPE_API_BASE: 'http://127.0.0.1:12111', PUBLIC_BASE_URL: 'http://sms.example.com' }), user);
      expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['PUBLIC_BASE_URL', 'SMS_PROVIDER', 'STRIPE_API_BASE']);
    }
    const unset = productionEnv();
    delete unset.PUBLIC_BASE_URL;
    delete unset.SMS_PROVIDER;
    expect(problemsOf(unset, 'api').map((p) => p.split(':')[0]).sort()).toEqual(['PUBLIC_BASE_URL', 'SMS_PROVIDER']);
    expect(problemsOf(productionEnv({ SMS_PROVIDER: 'simulator' }), 'tool')).toEqual([]);
  });

  // test/security: SHOPIFY_ADMIN_API_BASE would send every shop's access token (and session tokens) to another host.
  it('refuses SHOPIFY_ADMIN_API_BASE and a disabled token exchange in production, for the api and the worker', () => {
    for (const user of ['api', 'worker'] as const) {
      expect(named(problemsOf(productionEnv({ SHOPIFY_ADMIN_API_BASE: 'http://127.0.0.1:4020' }), user), 'SHOPIFY_ADMIN_API_BASE')).toEqual([
        'SHOPIFY_ADMIN_API_BASE: only for development and tests (a local Shopify fake); unset it in production',
      ]);
      expect(named(problemsOf(productionEnv({ SHOPIFY_INSTALL_BY_EXCHANGE: 'false' }), user), 'SHOPIFY_INSTALL_BY_EXCHANGE')).toHaveLength(1);
    }
    expect(problemsOf(productionEnv({ SHOPIFY_INSTALL_BY_EXCHANGE: 'true' }), 'api')).toEqual([]);
    expect(problemsOf({ NODE_ENV: 'development', SHOPIFY_ADMIN_API_BASE: 'http://127.0.0.1:4020' }, 'api')).toEqual([]);
  });

  it('checks every rotated-out token key under the same rules, and never prints one', () => {
    const weak = '00'.repeat(31) + 'ff';
    const problems = named(problemsOf(productionEnv({ SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS: `${generatedProductionSecrets().SHOP_TOKEN_ENCRYPTION_KEY},${weak}` })), 'SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS');
    expect(problems).toEqual(['SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS: one key: too little entropy (generate it: openssl rand -hex 32)']);
    expect(named(problemsOf(productionEnv({ SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS: 'not-a-key' })), 'SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS')[0]).toMatch(/comma-separated 32-byte keys/);
    expect(problemsOf(productionEnv({ SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS: generatedProductionSecrets().SHOP_TOKEN_ENCRYPTION_KEY! }), 'api')).toEqual([]);
  });

  it('refuses the legal quiet-hours floor off in production, and defaults it on everywhere', () => {
    expect(named(problemsOf(productionEnv({ SMS_QUIET_HOURS_FLOOR: 'false' }), 'worker'), 'SMS_QUIET_HOURS_FLOOR')).toEqual([
      'SMS_QUIET_HOURS_FLOOR: must stay on in production (US and Canadian numbers may not be texted before 08:00 or after 21:00 local)',
    ]);
    expect(named(problemsOf(productionEnv({ SMS_QUIET_HOURS_FLOOR: 'true' }), 'worker'), 'SMS_QUIET_HOURS_FLOOR')).toEqual([]);
    expect(parseConfig({}).SMS_QUIET_HOURS_FLOOR).toBe(true);
  });

  it('checks the raw environment: an empty string is unset, not a value', () => {
    expect(productionProblems({ NODE_ENV: 'production', METRICS_TOKEN: undefined }, 'worker')).toContain('METRICS_TOKEN: required in production (the development default is public)');
    expect(named(problemsOf(productionEnv({ METRICS_TOKEN: '' }), 'worker'), 'METRICS_TOKEN')).toEqual(['METRICS_TOKEN: required in production (the development default is public)']);
  });

  it('every variable named like a secret has a production rule', () => {
    const secretLike = Object.keys(configSchema.shape).filter((k) => /SECRET|TOKEN|_KEY$/.test(k));
    expect(secretLike.filter((k) => !(SECRET_NAMES as readonly string[]).includes(k))).toEqual([]);
  });

  // The one list: every secret value this repository writes down is in it.
  it('KNOWN_DEV_SECRETS lists every default, example, test and stack value of a secret', () => {
    const root = path.resolve(__dirname, '..');
    const read = (f: string): string => readFileSync(path.join(root, f), 'utf8');
    const found = new Map<string, string>();
    const defaults = parseConfig({}) as unknown as Record<string, unknown>;
    for (const name of SECRET_NAMES) if (typeof defaults[name] === 'string') found.set(`lib/config.ts ${name}`, defaults[name]);
    for (const [, name, value] of read('.env.example').matchAll(/^([A-Z_]+)=(.+)$/gm)) if ((SECRET_NAMES as readonly string[]).includes(name!)) found.set(`.env.example ${name}`, value!);
    for (const [, name, value] of read('test/env.ts').matchAll(/process\.env\.([A-Z_]+) \?\?= '([^']+)'/g)) if ((SECRET_NAMES as readonly string[]).includes(name!)) found.set(`test/env.ts ${name}`, value!);
    for (const [, name, value] of read('scripts/lib/stack.ts').matchAll(/([A-Z_]+): base\.[A-Z_]+ \?\? '([^']+)'/g)) if ((SECRET_NAMES as readonly string[]).includes(name!)) found.set(`stack.ts ${name}`, value!);
    for (const [, name, value] of read('apps/sms-simulator/src/config.ts').matchAll(/([A-Z_]+): z\.string\(\)\.min\(1\)\.default\('([^']+)'\)/g)) found.set(`simulator ${name}`, value!);
    expect(found.size).toBeGreaterThanOrEqual(20);
    const missing = [...found].filter(([, v]) => !KNOWN_DEV_SECRETS.has(v));
    expect(missing).toEqual([]);
  });
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

function run(entry: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const root = path.resolve(__dirname, '..');
    const child = spawn(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), entry], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe.each([
  ['api', 'apps/api/src/server.ts', 'PORT'],
  ['worker', 'apps/worker/src/main.ts', 'WORKER_METRICS_PORT'],
])('%s with an invalid environment', (_name, entry, portVar) => {
  it('exits 1 with a readable list of every problem, and nothing listens', async () => {
    const port = 39_000 + Math.floor(Math.random() * 1000);
    const res = await run(entry, { [portVar]: String(port), DATABASE_URL: 'not-a-url', REDIS_URL: 'http://x', SEND_LEASE_MS: '-5' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('Invalid configuration');
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'SEND_LEASE_MS']) expect(res.stderr).toMatch(new RegExp(`- ${name}: `));
    expect(res.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(await portOpen(port)).toBe(false);
  }, 20_000);
});
