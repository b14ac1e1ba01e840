import type { Server } from 'node:http';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { createCampaign, createShop } from '../../test/factories';
import { HELP, OpsError, runOps, type OpsIo } from './cli';

// Every command a runbook names runs here: --help plus one real invocation
// against the test database, Redis and a listening API.

let env: TestEnv;
let server: Server;
let io: OpsIo;
let output: string[];

beforeAll(async () => {
  env = await createTestEnv();
  const { app, deps } = await env.api();
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as { port: number }).port;
  io = { config: env.config, db: () => env.db, queues: () => deps.queues, apiUrl: `http://127.0.0.1:${port}`, out: (t) => output.push(t) };
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await env.close();
});
beforeEach(() => {
  output = [];
});

const run = async (...argv: string[]): Promise<{ code: number; text: string }> => {
  const code = await runOps(argv, io);
  return { code, text: output.join('\n') };
};

it('--help lists every command', async () => {
  const { code, text } = await run('--help');
  expect(code).toBe(0);
  expect(text).toBe(HELP);
  for (const cmd of ['campaign:inspect', 'campaign:reconcile', 'reconcile', 'webhook:list', 'webhook:replay', 'wallet:verify', 'reservation:release', 'queues']) {
    expect(text).toContain(cmd);
  }
});

it('campaign:inspect prints status counts, batches, jobs and reservation (and --json)', async () => {
  const shop = await createShop(env.db);
  const c = await createCampaign(env.db, shop.id);
  const human = await run('campaign:inspect', c.id);
  expect(human.code).toBe(0);
  expect(human.text).toContain(`Campaign ${c.id} (${shop.domain})`);
  expect(human.text).toMatch(/Recipients by status/);
  output = [];
  const json = JSON.parse((await run('campaign:inspect', c.id, '--json')).text) as { campaign: { status: string }; jobs: { launch: string } };
  expect(json.campaign.status).toBe('draft');
  expect(json.jobs.launch).toBe('missing');
  await expect(run('campaign:inspect', 'not-a-uuid')).rejects.toBeInstanceOf(OpsError);
});

it('campaign:reconcile and reconcile call the signed API', async () => {
  const shop = await createShop(env.db);
  const c = await createCampaign(env.db, shop.id, { status: 'scheduled', scheduledAt: new Date(Date.now() - 1000) });
  const one = await run('campaign:reconcile', c.id, '--json');
  expect(one.code).toBe(0);
  expect(JSON.parse(one.text).repairs.schedule_due).toBe(1);
  output = [];
  const all = await run('reconcile');
  expect(all.code).toBe(0);
  expect(all.text).toMatch(/kind\s+repaired/);
});

it('webhook:list --failed shows failed events; webhook:replay requeues one', async () => {
  const [e] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, last_error)
    VALUES ('shopify', 'wh-ops-1', 'customers/update', '{}'::jsonb, 'failed', 8, 'timeout') RETURNING id`;
  const list = await run('webhook:list', '--failed');
  expect(list.text).toContain(e!.id);
  expect(list.text).toContain('timeout');
  output = [];
  const replay = await run('webhook:replay', e!.id, '--json');
  expect(JSON.parse(replay.text)).toEqual({ id: e!.id, outcome: 'requeued' });
});

it('wallet:verify exits 0 when consistent and 1 on a mismatch', async () => {
  const shop = await createShop(env.db, { credits: 10 });
  expect((await run('wallet:verify', '--shop', shop.id)).code).toBe(0);
  await env.db.$executeRaw`UPDATE credit_wallets SET balance = 11 WHERE shop_id = ${shop.id}::uuid`;
  output = [];
  const bad = await run('wallet:verify', '--shop', shop.id);
  expect(bad.code).toBe(1);
  expect(bad.text).toContain('MISMATCH in 1 shop(s)');
  await env.db.$executeRaw`UPDATE credit_wallets SET balance = 10 WHERE shop_id = ${shop.id}::uuid`;
});

it('reservation:release releases what a stuck reservation holds', async () => {
  const shop = await createShop(env.db, { credits: 10 });
  const c = await createCampaign(env.db, shop.id, { status: 'sending' });
  await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 4 WHERE shop_id = ${shop.id}::uuid`;
  const [r] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, 'ops-stuck', 4) RETURNING id`;
  const res = await run('reservation:release', r!.id, '--json');
  expect(JSON.parse(res.text)).toEqual({ id: r!.id, released: 4, status: 'closed' });
});

it('queues prints counts per queue and state', async () => {
  const res = await run('queues', '--json');
  const rows = JSON.parse(res.text) as { queue: string; waiting: number }[];
  expect(rows.map((r) => r.queue).sort()).toEqual(['campaigns', 'imports', 'maintenance', 'sends', 'webhooks']);
  expect(typeof rows[0]!.waiting).toBe('number');
});

it('an unknown command is an error', async () => {
  await expect(run('launch:rockets')).rejects.toThrow('unknown command launch:rockets');
});

it('the npm entry point runs: `npm run ops -- --help` and a real `wallet:verify`', async () => {
  const { spawnSync } = await import('node:child_process');
  const path = await import('node:path');
  const root = path.resolve(__dirname, '..', '..');
  const tsx = path.join(root, 'node_modules/tsx/dist/cli.mjs');
  const envVars = { PATH: process.env.PATH ?? '', DATABASE_URL: env.config.DATABASE_URL, REDIS_URL: env.config.REDIS_URL, QUEUE_PREFIX: env.prefix, LOG_LEVEL: 'silent' };
  const help = spawnSync(process.execPath, [tsx, 'scripts/ops.ts', '--help'], { cwd: root, env: envVars, encoding: 'utf8' });
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('Usage: npm run ops');
  const verify = spawnSync(process.execPath, [tsx, 'scripts/ops.ts', 'wallet:verify', '--json'], { cwd: root, env: envVars, encoding: 'utf8' });
  expect(verify.stderr).toBe('');
  expect(JSON.parse(verify.stdout)).toEqual({ ok: true, mismatches: [] });
  expect(verify.status).toBe(0);
}, 30_000);
