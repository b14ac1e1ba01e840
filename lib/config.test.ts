import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { ConfigError, DEFAULT_CREDIT_PACKS, creditPacks, parseConfig } from './config';

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

  it('CREDIT_PACKS replaces the default packs', () => {
    const c = parseConfig({ CREDIT_PACKS: JSON.stringify([{ id: 'mini', credits: 100, amount: 150, currency: 'EUR' }]) });
    expect(creditPacks(c)).toEqual([{ id: 'mini', credits: 100, amount: 150, currency: 'eur' }]);
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
