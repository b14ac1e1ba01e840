import { randomUUID } from 'node:crypto';
import { createContact, createShop } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { HELP, OpsError, runOps, type OpsIo } from './cli';

// flow:runs and flow:backlog (docs/runbooks/flow-backlog.md) against the test
// database: read-only, so no API is needed.

let env: TestEnv;
let io: OpsIo;
let output: string[];
const now = new Date('2026-12-04T12:00:00Z');

beforeAll(async () => {
  env = await createTestEnv();
  const deps = env.workerDeps();
  io = { config: env.config, db: () => env.db, queues: () => deps.queues, apiUrl: 'http://127.0.0.1:1', out: (t) => output.push(t), now: () => now };
});
afterAll(async () => {
  await env.close();
});
beforeEach(() => {
  output = [];
});

const run = async (...argv: string[]): Promise<{ code: number; text: string }> => {
  const code = await runOps(argv, io);
  return { code, text: output.join('\n') };
};

const steps = [
  { type: 'wait', duration: { amount: 1, unit: 'hours' } },
  { type: 'send', body: 'Hello' },
  { type: 'condition', check: { kind: 'tag', tag: 'vip', is: true } },
];

async function flow(shopId: string, status: 'live' | 'paused'): Promise<{ id: string; versionId: string }> {
  const [f] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO flows (shop_id, name, trigger_type) VALUES (${shopId}::uuid, ${`Flow ${status}`}, 'order_created') RETURNING id`;
  const [v] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${f!.id}::uuid, ${shopId}::uuid, 1, ${JSON.stringify(steps)}::jsonb) RETURNING id`;
  await env.db.$executeRaw`UPDATE flows SET current_version_id = ${v!.id}::uuid, status = ${status} WHERE id = ${f!.id}::uuid`;
  return { id: f!.id, versionId: v!.id };
}

async function runAt(shopId: string, f: { id: string; versionId: string }, contactId: string, o: { step: number; dueMinutesAgo: number; claimed?: 'live' | 'expired' }): Promise<string> {
  const due = new Date(now.getTime() - o.dueMinutesAgo * 60_000);
  const lease = o.claimed === 'live' ? new Date(now.getTime() + 30_000) : o.claimed === 'expired' ? new Date(now.getTime() - 30_000) : null;
  const [r] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at, claim_token, lease_until, attempt)
    VALUES (${f.id}::uuid, ${f.versionId}::uuid, ${shopId}::uuid, ${contactId}::uuid, 'order_created', ${randomUUID()}, ${now}, ${o.step}, ${due},
            ${lease ? randomUUID() : null}::uuid, ${lease}, ${lease ? 1 : 0})
    RETURNING id::text`;
  return r!.id;
}

it('--help lists the flow commands', async () => {
  const { text } = await run('--help');
  expect(text).toBe(HELP);
  expect(text).toContain('flow:runs <contactId|+phone>');
  expect(text).toContain('flow:backlog [flowId]');
});

it("flow:runs shows a contact's runs with step, status, due time, claim and message, by id or by phone; no phone is printed", async () => {
  const shop = await createShop(env.db);
  const contact = await createContact(env.db, shop.id);
  const live = await flow(shop.id, 'live');
  const first = await runAt(shop.id, live, contact.id, { step: 1, dueMinutesAgo: 5, claimed: 'expired' });
  await env.db.$executeRaw`
    INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, skip_reason, final_at)
    VALUES (${first}::bigint, 1, ${shop.id}::uuid, ${live.id}::uuid, ${live.versionId}::uuid, ${contact.id}::uuid, 'skipped', 'frequency_cap', now())`;
  const ended = await runAt(shop.id, live, contact.id, { step: 0, dueMinutesAgo: 0 });
  await env.db.$executeRaw`
    UPDATE flow_runs SET status = 'exited', exit_reason = 'order_placed', next_due_at = NULL, ended_at = now(), current_step = 2 WHERE id = ${ended}::bigint`;

  const byId = await run('flow:runs', contact.id);
  expect(byId.code).toBe(0);
  expect(byId.text).toMatch(/runId\s+flow\s+flowStatus\s+version\s+trigger\s+status\s+exitReason\s+step\s+dueAt\s+leaseUntil\s+attempt\s+message/);
  expect(byId.text).toContain('1/3 send');
  expect(byId.text).toContain('skipped (frequency_cap)');
  expect(byId.text).toContain('order_placed');
  expect(byId.text).not.toContain(contact.phone);

  output = [];
  const json = JSON.parse((await run('flow:runs', contact.phone, '--shop', shop.id, '--json')).text) as {
    contacts: { id: string }[];
    runs: { runId: string; status: string; step: string; dueAt: string | null; leaseUntil: string | null; message: string | null }[];
  };
  expect(json.contacts.map((c) => c.id)).toEqual([contact.id]);
  expect(json.runs).toEqual([
    expect.objectContaining({ runId: ended, status: 'exited', step: '2/3 condition', dueAt: null }),
    expect.objectContaining({ runId: first, status: 'active', step: '1/3 send', dueAt: new Date(now.getTime() - 5 * 60_000).toISOString(), message: 'skipped (frequency_cap)' }),
  ]);
  expect(JSON.stringify(json)).not.toContain(contact.phone);
  // Without --shop (every shop's contact with the number) and without the '+'.
  output = [];
  const anyShop = JSON.parse((await run('flow:runs', contact.phone.slice(1), '--json')).text) as { contacts: { id: string }[]; runs: unknown[] };
  expect(anyShop.contacts.map((c) => c.id)).toEqual([contact.id]);
  expect(anyShop.runs).toHaveLength(2);

  await expect(run('flow:runs', 'not-a-contact')).rejects.toBeInstanceOf(OpsError);
  await expect(run('flow:runs', randomUUID())).rejects.toThrow('no such contact');
});

it('flow:backlog lists due runs by flow and step, oldest first (paused flows shown as such), and one flow with its waiting runs', async () => {
  const shop = await createShop(env.db);
  const contact = await createContact(env.db, shop.id);
  const live = await flow(shop.id, 'live');
  const paused = await flow(shop.id, 'paused');
  // Far older than what other tests leave: these are first.
  await runAt(shop.id, live, contact.id, { step: 1, dueMinutesAgo: 100_000, claimed: 'live' });
  await runAt(shop.id, live, contact.id, { step: 1, dueMinutesAgo: 99_000, claimed: 'expired' });
  await runAt(shop.id, live, contact.id, { step: 0, dueMinutesAgo: 99_500 });
  await runAt(shop.id, live, contact.id, { step: 0, dueMinutesAgo: -30 }); // waiting, due in 30 minutes
  await runAt(shop.id, paused, contact.id, { step: 1, dueMinutesAgo: 200_000 });

  const all = JSON.parse((await run('flow:backlog', '--json')).text) as { due: number; oldestDueAt: string; rows: Record<string, unknown>[] };
  expect(all.oldestDueAt).toBe(new Date(now.getTime() - 200_000 * 60_000).toISOString());
  expect(all.rows.slice(0, 3)).toEqual([
    expect.objectContaining({ flowId: paused.id, flowStatus: 'paused', step: 1, stepType: 'send', due: 1, claimed: 0, expiredClaims: 0 }),
    expect.objectContaining({ flowId: live.id, flowStatus: 'live', step: 1, stepType: 'send', due: 2, claimed: 1, expiredClaims: 1 }),
    expect.objectContaining({ flowId: live.id, step: 0, stepType: 'wait', due: 1, claimed: 0 }),
  ]);

  output = [];
  const one = await run('flow:backlog', live.id);
  expect(one.code).toBe(0);
  expect(one.text).toMatch(/flowId\s+flow\s+flowStatus\s+step\s+stepType\s+due\s+claimed\s+expiredClaims\s+oldestDueAt\s+waiting\s+nextDueAt/);
  expect(one.text).toContain('due: 3; oldest due: ');
  output = [];
  const oneJson = JSON.parse((await run('flow:backlog', live.id, '--json')).text) as { rows: Record<string, unknown>[] };
  expect(oneJson.rows).toEqual([
    expect.objectContaining({ step: 0, due: 1, waiting: 1, nextDueAt: new Date(now.getTime() + 30 * 60_000).toISOString() }),
    expect.objectContaining({ step: 1, due: 2, claimed: 1, expiredClaims: 1, waiting: 0, nextDueAt: null }),
  ]);
  await expect(run('flow:backlog', 'nope')).rejects.toBeInstanceOf(OpsError);
});
