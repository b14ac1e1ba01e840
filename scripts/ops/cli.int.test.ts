import type { Server } from 'node:http';
import { Client } from 'pg';
import { createTestDatabase, dropTestDatabase } from '../../test/db';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { createCampaign, createContact, createContactsBulk, createShop } from '../../test/factories';
import { campaignStatus, moneyState, queuedCampaign, waitFor } from '../../test/sending';
import { HANDLERS } from '../../apps/worker/src/registry';
import { defineHandler } from '../../apps/worker/src/processors/types';
import { pruneCampaignRecipients } from '../../domain/campaigns/prune-campaign-recipients';
import { jobIds } from '../../queue/job-ids';
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
  for (const cmd of ['campaign:inspect', 'campaign:cancel', 'campaign:reconcile', 'campaign:resolve-unknown', 'reconcile', 'webhook:list', 'webhook:replay', 'wallet:verify', 'reservation:release', 'queues', 'clicks:inspect']) {
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

it('outbox:list shows unpublished events with their attempts and last error; --dead the dead ones', async () => {
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now(), dead_at = NULL WHERE published_at IS NULL`;
  const [retrying] = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, attempts, next_attempt_at, last_error)
    VALUES ('keyword.reply.v1', 'ops-retrying', '{"replyId": "1"}'::jsonb, 2, now() + interval '10 seconds', 'Error: connect ECONNREFUSED') RETURNING id`;
  const [dead] = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, attempts, dead_at, last_error)
    VALUES ('contacts.import.v1', 'ops-dead', '{"importId": "x"}'::jsonb, 8, now(), 'ZodError: importId: Invalid UUID') RETURNING id`;
  const pending = await run('outbox:list');
  expect(pending.code).toBe(0);
  expect(pending.text).toContain('ops-retrying');
  expect(pending.text).toContain('ECONNREFUSED');
  expect(pending.text).not.toContain('ops-dead');
  output = [];
  const json = JSON.parse((await run('outbox:list', '--dead', '--json')).text) as { id: string; attempts: number; last_error: string }[];
  expect(json).toEqual([expect.objectContaining({ id: String(dead!.id), attempts: 8, last_error: 'ZodError: importId: Invalid UUID' })]);
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now(), dead_at = NULL WHERE id IN (${retrying!.id}, ${dead!.id})`;
});

it('outbox:requeue and outbox:delete act on a dead event only, need a reason, and log who ran them', async () => {
  const dead = async (aggregate: string): Promise<string> =>
    (
      await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO outbox_events (event_type, aggregate_id, payload, attempts, dead_at, last_error)
        VALUES ('contacts.import.v1', ${aggregate}, '{"importId": "x"}'::jsonb, 8, now(), 'ZodError: importId: Invalid UUID') RETURNING id::text AS id`
    )[0]!.id;
  const a = await dead('ops-requeue');
  const b = await dead('ops-delete');
  await expect(run('outbox:requeue', a)).rejects.toThrow('outbox:requeue needs --reason');
  await expect(run('outbox:delete', 'not-an-id', '--reason', 'x')).rejects.toThrow('outbox:delete needs an outbox event id');

  const requeued = await runOps(['outbox:requeue', a, '--reason', 'importer fixed (OPS-9)'], { ...io, operator: 'carol' });
  expect(requeued).toBe(0);
  expect(output.join('\n')).toContain(`requeued dead outbox event ${a} (contacts.import.v1)`);
  const [row] = await env.db.$queryRaw<{ dead: boolean; attempts: number }[]>`SELECT dead_at IS NOT NULL AS dead, attempts FROM outbox_events WHERE id = ${BigInt(a)}`;
  expect(row).toEqual({ dead: false, attempts: 0 });
  const line = env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'dead outbox event requeued by hand' && l.outboxId === a);
  expect(line).toMatchObject({ operator: 'carol', reason: 'importer fixed (OPS-9)', eventType: 'contacts.import.v1', aggregateId: 'ops-requeue' });
  // Now pending, not dead: deleting it is refused, and it stays.
  await expect(run('outbox:delete', a, '--reason', 'oops')).rejects.toThrow(/409 INVALID_STATE Only a dead outbox event can be deleted; this one is pending/);

  output = [];
  const deleted = JSON.parse((await run('outbox:delete', b, '--reason', 'import cancelled', '--json')).text) as { id: string; outcome: string };
  expect(deleted).toMatchObject({ id: b, outcome: 'deleted' });
  expect(await env.db.$queryRaw`SELECT id FROM outbox_events WHERE id = ${BigInt(b)}`).toEqual([]);
  await expect(run('outbox:requeue', b, '--reason', 'x')).rejects.toThrow(/404 NOT_FOUND/);
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() WHERE id = ${BigInt(a)}`;
});

it('webhook:replay --failed requeues failed events by provider and topic, at most --limit, and says whether more remain', async () => {
  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    const [e] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, last_error, received_at)
      VALUES ('shopify', ${`wh-ops-bulk-${n}`}, 'orders/create', '{}'::jsonb, 'failed', 10, 'timeout', now() - ${10 - n}::int * interval '1 minute') RETURNING id`;
    ids.push(e!.id);
  }
  const first = await run('webhook:replay', '--failed', '--provider', 'shopify', '--topic', 'orders/create', '--since', '2000-01-01T00:00:00Z', '--limit', '2');
  expect(first.code).toBe(0);
  expect(first.text).toContain('requeued 2 failed webhook event(s)');
  expect(first.text).toContain(ids[0]);
  expect(first.text).toContain('more failed events match: run the command again');
  output = [];
  const second = await run('webhook:replay', '--failed', '--provider', 'shopify', '--topic', 'orders/create', '--json');
  expect(JSON.parse(second.text)).toEqual({ requeued: 1, ids: [ids[2]], more: false });
  await expect(run('webhook:replay', '--failed', '--since', 'yesterday')).rejects.toThrow('--since needs an ISO 8601 time');
  await expect(run('webhook:replay', '--failed', '--limit', '5000')).rejects.toThrow('--limit needs a whole number from 1 to 1000');
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

it('reservation:release releases what a stuck reservation of an ended campaign holds', async () => {
  const shop = await createShop(env.db, { credits: 10 });
  const c = await createCampaign(env.db, shop.id, { status: 'completed' });
  await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 4 WHERE shop_id = ${shop.id}::uuid`;
  const [r] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, 'ops-stuck', 4) RETURNING id`;
  const res = await run('reservation:release', r!.id, '--json');
  expect(JSON.parse(res.text)).toEqual({ id: r!.id, released: 4, status: 'closed' });
});

it('reservation:release of a campaign that may still send fails with the 409, its campaign status and open recipients', async () => {
  const shop = await createShop(env.db, { credits: 10 });
  const c = await createCampaign(env.db, shop.id, { status: 'sending' });
  const contact = await createContact(env.db, shop.id);
  await env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status) VALUES (${c.id}::uuid, 0, 1, 'pending')`;
  await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c.id}::uuid, ${contact.id}::uuid, 0)`;
  await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 4 WHERE shop_id = ${shop.id}::uuid`;
  const [r] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, ${`campaign-${c.id}`}, 4) RETURNING id`;
  const err = await run('reservation:release', r!.id).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpsError);
  expect((err as OpsError).message).toMatch(/→ 409 INVALID_STATE .*cancel the campaign/);
  expect((err as OpsError).message).toContain(`campaignId: ${c.id}, campaignStatus: sending, openRecipients: 1`);
});

it('campaign:cancel stops a campaign of any shop with a reason, says so when run again, and fails with the 409 and the status of a completed one', async () => {
  const shop = await createShop(env.db, { credits: 20 });
  await createContactsBulk(env.db, shop.id, 4);
  const c = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2 });
  await expect(run('campaign:cancel', c.id)).rejects.toThrow('campaign:cancel needs --reason');
  await expect(run('campaign:cancel', c.id, '--reason')).rejects.toThrow('campaign:cancel needs --reason');
  expect(await campaignStatus(env.db, c.id)).toBe('queued');

  const first = await run('campaign:cancel', c.id, '--reason', 'runaway: sent to the wrong list');
  expect(first.code).toBe(0);
  expect(first.text).toContain(`cancelled campaign ${c.id}: released 8 credit(s) now`);
  expect(await campaignStatus(env.db, c.id)).toBe('cancelled');
  expect(await moneyState(env.db, shop.id)).toMatchObject({ balance: 20, reserved: 0 });
  output = [];
  const again = await run('campaign:cancel', c.id, '--reason', 'again', '--json');
  expect(JSON.parse(again.text)).toEqual({ id: c.id, shopId: shop.id, outcome: 'already_cancelled', status: 'cancelled', released: 0, kept: 0 });
  output = [];
  expect((await run('campaign:cancel', c.id, '--reason', 'again')).text).toContain(`campaign ${c.id} was already cancelled: nothing changed`);

  const done = await createCampaign(env.db, shop.id, { status: 'completed' });
  const err = await run('campaign:cancel', done.id, '--reason', 'too late').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpsError);
  expect((err as OpsError).message).toMatch(/→ 409 INVALID_STATE Cannot cancel a campaign that is completed \(status: completed\)/);
  await expect(run('campaign:cancel', '00000000-0000-4000-8000-000000000000', '--reason', 'x')).rejects.toThrow(/404 NOT_FOUND/);
});

it('campaign:cancel sends who runs it (OPS_OPERATOR, else the OS user) with the reason, to the log line', async () => {
  const shop = await createShop(env.db);
  const c = await createCampaign(env.db, shop.id);
  const code = await runOps(['campaign:cancel', c.id, '--reason', 'ticket OPS-7'], { ...io, operator: 'bob' });
  expect(code).toBe(0);
  const line = env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'campaign cancelled by hand' && l.campaignId === c.id);
  expect(line).toMatchObject({ operator: 'bob', reason: 'ticket OPS-7', outcome: 'cancelled' });
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

it('clicks:inspect leaves out a lock on link_clicks in another database (cloned from one template, so the same relation oid)', async () => {
  const other = await createTestDatabase();
  const holder = new Client({ connectionString: other.url });
  await holder.connect();
  try {
    const [mine] = await env.db.$queryRaw<{ oid: number }[]>`SELECT 'link_clicks'::regclass::oid AS oid`;
    const theirs = await holder.query<{ oid: number }>(`SELECT 'link_clicks'::regclass::oid AS oid`);
    expect(theirs.rows[0]!.oid).toBe(mine!.oid);
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE link_clicks IN ACCESS EXCLUSIVE MODE');
    const json = JSON.parse((await run('clicks:inspect', '--json')).text) as { locks: unknown[] };
    expect(json.locks).toEqual([]);
  } finally {
    await holder.end();
    await dropTestDatabase(other.name);
  }
});

it('retention:status lists campaigns awaiting recipient pruning, oldest first, then counts them pruned; and names failed pruning jobs', async () => {
  const days = env.config.RECIPIENT_RETENTION_DAYS;
  const ago = (d: number): Date => new Date(Date.now() - d * 86_400_000);
  const shop = await createShop(env.db);
  const contact = await createContact(env.db, shop.id);
  const finished = async (daysAgo: number): Promise<string> => {
    const [c] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status, started_at, completed_at, last_activity_at)
      VALUES (${shop.id}::uuid, 'Old', 'Hello', 'completed', ${ago(daysAgo + 1)}, ${ago(daysAgo)}, ${ago(daysAgo)}) RETURNING id`;
    await env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, status, recipient_count, sent) VALUES (${c!.id}::uuid, 0, 'done', 1, 1)`;
    await env.db.$executeRaw`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, attempt, segments, provider_message_id, sent_at, final_at)
      VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0, 'delivered', 1, 1, 'm-1', ${ago(daysAgo + 1)}, ${ago(daysAgo + 1)})`;
    return c!.id;
  };
  const older = await finished(days + 9);
  const old = await finished(days + 3);
  const recent = await finished(days - 3);
  type Status = { awaiting: { count: number; oldest: { campaignId: string; overdueDays: number; frozen: boolean }[] }; prunedLastDay: number; table: { bytes: number }; failedJobs: { jobId: string; campaignId: string; failedReason: string }[] };
  const status = async (): Promise<Status> => {
    output = [];
    return JSON.parse((await run('retention:status', '--json')).text) as Status;
  };

  const before = await status();
  const listed = before.awaiting.oldest.map((c) => c.campaignId);
  expect(listed.indexOf(older)).toBeGreaterThanOrEqual(0);
  expect(listed.indexOf(older)).toBeLessThan(listed.indexOf(old));
  expect(listed).not.toContain(recent);
  expect(before.awaiting.oldest.find((c) => c.campaignId === older)).toMatchObject({ frozen: false });
  expect(before.awaiting.oldest.find((c) => c.campaignId === older)!.overdueDays).toBeCloseTo(9, 0);
  expect(before.table.bytes).toBeGreaterThan(0);
  output = [];
  const human = await run('retention:status');
  expect(human.text).toContain('Oldest campaigns awaiting pruning');
  expect(human.text).toContain(older);

  const deps = env.workerDeps();
  expect(await pruneCampaignRecipients(deps, older, { now: new Date(), retentionDays: days })).toMatchObject({ outcome: 'pruned', deleted: 1 });
  const after = await status();
  expect(after.awaiting.count).toBe(before.awaiting.count - 1);
  expect(after.awaiting.oldest.map((c) => c.campaignId)).not.toContain(older);
  expect(after.prunedLastDay).toBe(before.prunedLastDay + 1);

  // A pruning job that failed (here: every run throws) is named with its campaign and reason.
  const failing = defineHandler('campaigns.prune-recipients.v1', async () => {
    throw new Error('canceling statement due to statement timeout');
  });
  const { deps: w } = await env.worker({ queues: ['maintenance'], handlers: HANDLERS.map((h) => (h.name === failing.name ? failing : h)) });
  const jobId = jobIds.pruneRecipients(old);
  await w.queues.get('maintenance').add('campaigns.prune-recipients.v1', { traceId: 'test', campaignId: old }, { jobId, attempts: 1 });
  await waitFor('the pruning job failed', async () => (await w.queues.get('maintenance').getJob(jobId))?.failedReason !== undefined);
  const failed = (await status()).failedJobs;
  expect(failed).toContainEqual(expect.objectContaining({ jobId, campaignId: old, failedReason: 'canceling statement due to statement timeout' }));
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
