import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { sessionToken } from '../../test/session-token';
import { claimDueRuns } from './claim-due-runs';
import { eraseDeletedFlow, eraseDeletedFlowChunk, FLOW_DELETE_CHUNK_ROWS } from './erase-deleted-flow';
import { executeFlowSteps } from './execute-flow-steps';

// A paused flow's runs hold where they are and never finish on their own, so
// deleting a flow with runs in progress can no longer be refused until they
// have (that left activating it, and texting every held contact, as the only
// way to delete it). The mark stops every run of the flow at once, test runs
// included; the deletion job ends them (exited/flow_deleted) in chunks, then
// removes them with the rest of the history.

describe('deleting a flow with runs in progress', () => {
  let env: TestEnv;
  let app: Awaited<ReturnType<TestEnv['api']>>['app'];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body);
  const del = async (shop: ShopFixture, id: string) => request(app).delete(`/api/flows/${id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID());
  const steps = [{ type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Welcome!' }];

  async function flowWithRuns(shop: ShopFixture, o: { live: boolean; runs: number; trigger?: string }): Promise<{ id: string; runIds: string[] }> {
    const created = await post(shop, '/api/flows', { name: 'Welcome', trigger: { type: 'order_created' }, steps });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    if (o.live) expect((await post(shop, `/api/flows/${id}/activate`)).status).toBe(200);
    const contact = await createContact(env.db, shop.id);
    const rows = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at)
      SELECT ${id}::uuid, ${created.body.currentVersion.id}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, ${o.trigger ?? 'order_created'},
             'o-' || g, now() - interval '3 days', 1, now() - interval '2 days'
        FROM generate_series(1, ${o.runs}::int) g
      RETURNING id::text`;
    return { id, runIds: rows.map((r) => r.id) };
  }

  const runStates = async (flowId: string) =>
    env.db.$queryRaw<{ status: string; exit_reason: string | null; claim_token: string | null }[]>`
      SELECT status, exit_reason, claim_token::text FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY id`;

  it('a paused flow with held runs: 204; none of them goes on; the job ends them as flow_deleted, then removes them', async () => {
    const shop = await createShop(env.db, { credits: 100 });
    const flow = await flowWithRuns(shop, { live: true, runs: 5 });
    expect((await del(shop, flow.id)).status).toBe(409);
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);

    expect((await del(shop, flow.id)).status).toBe(204);
    const later = new Date(Date.now() + 7 * 86_400_000);
    expect((await claimDueRuns(env.db, { now: later, limit: 1000, leaseMs: 60_000 })).runIds.filter((id) => flow.runIds.includes(id))).toEqual([]);

    // The job's first chunks end them, `chunkRows` at a time, before anything is deleted.
    expect(await eraseDeletedFlowChunk(env.db, flow.id, { chunkRows: 3 })).toMatchObject({ kind: 'rows', step: 0, table: 'flow_runs_ended', deleted: 3 });
    expect(await eraseDeletedFlowChunk(env.db, flow.id, { chunkRows: 3 })).toMatchObject({ kind: 'rows', step: 0, table: 'flow_runs_ended', deleted: 2 });
    expect(await runStates(flow.id)).toEqual(Array.from({ length: 5 }, () => ({ status: 'exited', exit_reason: 'flow_deleted', claim_token: null })));
    const erased = await eraseDeletedFlow(env.workerDeps(), flow.id, { chunkRows: FLOW_DELETE_CHUNK_ROWS });
    expect(erased.outcome).toBe('erased');
    expect(await runStates(flow.id)).toEqual([]);
  });

  it("a draft's test run due now stops at the mark (test runs otherwise go on whatever the flow's status), and a claim taken before it moves nothing", async () => {
    const shop = await createShop(env.db, { credits: 100 });
    const pending = await flowWithRuns(shop, { live: false, runs: 1, trigger: 'manual' });
    const claimedBefore = await flowWithRuns(shop, { live: false, runs: 1, trigger: 'manual' });
    const now = new Date();
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    expect(claim.runIds).toEqual(expect.arrayContaining([...pending.runIds, ...claimedBefore.runIds]));
    // Give `pending` its claim back, as a lease that ran out would.
    await env.db.$executeRaw`UPDATE flow_runs SET claim_token = NULL, lease_until = NULL WHERE id = ${pending.runIds[0]!}::bigint`;

    expect((await del(shop, pending.id)).status).toBe(204);
    expect((await del(shop, claimedBefore.id)).status).toBe(204);
    expect((await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 })).runIds.filter((id) => pending.runIds.includes(id))).toEqual([]);
    // The step job of the claim taken before the delete holds the run: no message.
    const outcomes = await executeFlowSteps(env.db, { runIds: claimedBefore.runIds, claimToken: claim.claimToken, now: () => now });
    expect(outcomes.get(claimedBefore.runIds[0]!)).toMatchObject({ kind: 'held' });
    const [m] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_messages WHERE flow_id IN (${pending.id}::uuid, ${claimedBefore.id}::uuid)`;
    expect(m!.n).toBe(0);
  });
});
