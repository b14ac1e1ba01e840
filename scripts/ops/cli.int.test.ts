import type { Server } from 'node:http';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { createCampaign, createContact, createShop } from '../../test/factories';
import { moneyState } from '../../test/sending';
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
  for (const cmd of ['campaign:inspect', 'campaign:reconcile', 'campaign:resolve-unknown', 'reconcile', 'webhook:list', 'webhook:replay', 'wallet:verify', 'reservation:release', 'queues', 'clicks:inspect']) {
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

it('campaign:resolve-unknown: a dry run counts and changes nothing; --as sent charges each unknown recipient once; --as failed is free', async () => {
  const shop = await createShop(env.db, { credits: 10 });
  const unknownRecipients = async (campaignId: string, segments: (number | null)[]): Promise<string[]> => {
    const ids: string[] = [];
    for (const segs of segments) {
      const contact = await createContact(env.db, shop.id);
      const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
        INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, segments, error_code, attempt)
        VALUES (${campaignId}::uuid, ${contact.id}::uuid, 0, 'unknown', ${segs}::smallint, 'timeout_after_send', 1) RETURNING id`;
      ids.push(String(row!.id));
    }
    return ids;
  };
  const statuses = async (campaignId: string): Promise<string[]> =>
    (await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid ORDER BY id`).map((r) => r.status);

  const sent = await createCampaign(env.db, shop.id, { status: 'completed' });
  // The last row predates segments being kept on unknown rows: it cannot be charged, so it is left alone.
  await unknownRecipients(sent.id, [1, 2, null]);
  const dry = await run('campaign:resolve-unknown', sent.id, '--as', 'sent', '--dry-run');
  expect(dry.code).toBe(0);
  expect(dry.text).toContain('DRY RUN: would resolve 2 of 3 unknown recipient(s) as sent, charging 3 credit(s)');
  expect(await statuses(sent.id)).toEqual(['unknown', 'unknown', 'unknown']);
  expect((await moneyState(env.db, shop.id)).balance).toBe(10);

  output = [];
  const real = JSON.parse((await run('campaign:resolve-unknown', sent.id, '--as', 'sent', '--json')).text) as Record<string, unknown>;
  expect(real).toMatchObject({ unknown: 3, resolvable: 2, moved: 2, charged: 3, shortfall: 0, dryRun: false });
  expect(await statuses(sent.id)).toEqual(['sent', 'sent', 'unknown']);
  output = [];
  // Run again (or concurrently with a delivery report): nothing moves or is charged twice.
  expect(JSON.parse((await run('campaign:resolve-unknown', sent.id, '--as', 'sent', '--json')).text)).toMatchObject({ moved: 0, charged: 0 });
  expect(await moneyState(env.db, shop.id)).toMatchObject({ balance: 7, debited: 3, ledgerSum: 7 });

  const failed = await createCampaign(env.db, shop.id, { status: 'completed' });
  await unknownRecipients(failed.id, [1, null]);
  output = [];
  expect(JSON.parse((await run('campaign:resolve-unknown', failed.id, '--as', 'failed', '--json')).text)).toMatchObject({ moved: 2, charged: 0 });
  expect(await statuses(failed.id)).toEqual(['failed', 'failed']);
  expect((await moneyState(env.db, shop.id)).balance).toBe(7);

  await expect(run('campaign:resolve-unknown', failed.id)).rejects.toThrow('--as sent or --as failed');
  await expect(run('campaign:resolve-unknown', '00000000-0000-4000-8000-000000000000', '--as', 'failed')).rejects.toThrow(/404/);
});

it('queues prints counts per queue and state', async () => {
  const res = await run('queues', '--json');
  const rows = JSON.parse(res.text) as { queue: string; waiting: number }[];
  expect(rows.map((r) => r.queue).sort()).toEqual(['campaigns', 'flows', 'imports', 'maintenance', 'sends', 'shopify', 'webhooks']);
  expect(typeof rows[0]!.waiting).toBe('number');
});

it('clicks:inspect shows who holds or awaits a lock on link_clicks, and a campaign\'s clicks and their lag', async () => {
  const shop = await createShop(env.db);
  const contact = await createContact(env.db, shop.id);
  const c = await createCampaign(env.db, shop.id, { status: 'completed', body: 'Sale https://shop.example/x' });
  const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c.id}::uuid, ${contact.id}::uuid, 0) RETURNING id`;
  await env.db.$executeRaw`
    INSERT INTO link_clicks (id, shop_id, campaign_id, recipient_id, contact_id, link_index, clicked_at, ua_class, bot, first, recorded_at)
    VALUES (gen_random_uuid(), ${shop.id}::uuid, ${c.id}::uuid, ${r!.id}, ${contact.id}::uuid, 0, now() - interval '3 seconds', 'ios', false, true, now()),
           (gen_random_uuid(), ${shop.id}::uuid, ${c.id}::uuid, ${r!.id}, ${contact.id}::uuid, 0, now() - interval '1 second', 'preview', true, false, now())`;
  const holder = await env.db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE link_clicks IN ACCESS EXCLUSIVE MODE');
    const locked = await run('clicks:inspect', '--json');
    expect(locked.code).toBe(0);
    const json = JSON.parse(locked.text) as { locks: { pid: number; mode: string; granted: boolean }[] };
    expect(json.locks).toContainEqual(expect.objectContaining({ mode: 'AccessExclusiveLock', granted: true }));
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
  output = [];
  const human = await run('clicks:inspect', c.id);
  expect(human.text).toContain('Locks on link_clicks');
  expect(human.text).toContain(`Clicks of campaign ${c.id}`);
  output = [];
  const one = JSON.parse((await run('clicks:inspect', c.id, '--json')).text) as { locks: unknown[]; campaign: { human: number; bot: number; unique: number; maxLagSecondsLastHour: number } };
  expect(one.locks).toEqual([]);
  expect(one.campaign).toMatchObject({ human: 1, bot: 1, unique: 1 });
  expect(one.campaign.maxLagSecondsLastHour).toBeGreaterThanOrEqual(2.9);
  await expect(run('clicks:inspect', '00000000-0000-4000-8000-000000000000')).rejects.toThrow('not found');
  await expect(run('clicks:inspect', 'nope')).rejects.toBeInstanceOf(OpsError);
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
