import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { eraseDeletedFlow } from '../../domain/flows/erase-deleted-flow';
import { jobIds } from '../../queue/job-ids';
import { createContactsBulk, createShop, type ShopFixture } from '../factories';
import { flowRowCounts, seedFlowHistory } from '../flow-history';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';

// The attack: a merchant sends DELETE /api/flows/:id with another shop's flow
// id, to have that flow marked deleted (hidden from its owner at once) and
// its history erased by the job. The flow is looked up within the caller's
// shop only: 404 like any unknown id, the flow keeps its status and every
// row, no deletion event or job names it, and a job for it run anyway (a
// stray id) deletes nothing, since the flow was never marked.

describe('DELETE of another shop\'s flow', () => {
  let env: TestEnv;
  let app: Express;
  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const del = async (shop: ShopFixture, path: string) =>
    request(app).delete(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send();

  it('404 NOT_FOUND, the other shop\'s flow untouched and never erased; 204 for its own', async () => {
    const attacker = await createShop(env.db);
    const victim = await createShop(env.db);
    await createContactsBulk(env.db, victim.id, 5);
    await createContactsBulk(env.db, attacker.id, 2);
    const { flowId } = await seedFlowHistory(env.db, victim.id, { runs: 9, clickEvery: 2, attributionEvery: 2 });
    const { flowId: ownFlowId } = await seedFlowHistory(env.db, attacker.id, { runs: 2 });
    const before = await flowRowCounts(env.db, flowId);

    const res = await del(attacker, `/api/flows/${flowId}`);
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'Flow not found' });
    const unknown = await del(attacker, `/api/flows/${randomUUID()}`);
    expect(unknown.body.error).toEqual({ ...res.body.error, requestId: unknown.body.error.requestId });

    const [row] = await env.db.$queryRaw<{ status: string; deleted_at: Date | null }[]>`SELECT status, deleted_at FROM flows WHERE id = ${flowId}::uuid`;
    expect(row).toEqual({ status: 'paused', deleted_at: null });
    const [events] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = ${flowId}`;
    expect(events!.n).toBe(0);
    const worker = env.workerDeps();
    expect(await worker.queues.get('maintenance').getJob(jobIds.flowDelete(flowId))).toBeUndefined();
    expect((await eraseDeletedFlow(worker, flowId)).outcome).toBe('not_deleted');
    expect(await flowRowCounts(env.db, flowId)).toEqual(before);

    expect((await del(attacker, `/api/flows/${ownFlowId}`)).status).toBe(204);
    expect(await worker.queues.get('maintenance').getJob(jobIds.flowDelete(ownFlowId))).toBeDefined();
    expect(await flowRowCounts(env.db, flowId)).toEqual(before);
  });
});
