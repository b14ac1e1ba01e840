import type { Express } from 'express';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';
import { resend, startOpsCapture, type CapturedRequest, type OpsCapture } from '../ops-capture';

// Attack: POST /internal/outbox/:id/delete gives up an outbox event's work for
// good (a flow trigger whose welcome texts then never start), and
// /requeue puts a poison payload back in front of the workers. Whoever reaches
// the api could send either unsigned, or capture one signed delete of the
// on-call CLI (a proxy log, a shared terminal recording) and point it at
// another event, change its reason, or send it again. Closed: both are behind
// the signed-request check of every /internal route (the signature covers
// method, path and body; each nonce is spent once), so each is 401
// INVALID_SIGNATURE and the other event stays as it was; and only a dead
// event is ever touched, whatever the request.

let env: TestEnv;
let app: Express;
let ops: OpsCapture;

beforeAll(async () => {
  env = await createTestEnv();
  ({ app } = await env.api());
  ops = await startOpsCapture(env, { id: '1', outcome: 'deleted', eventType: 'x', aggregateId: 'x', attempts: 8, lastError: null, deadAt: new Date().toISOString() });
});
afterAll(async () => {
  await ops.close();
  await env.close();
});

const send = (c: CapturedRequest, url = c.url, body = c.body): request.Test => resend(app, c, url, body);

async function deadEvent(): Promise<string> {
  const [row] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, attempts, dead_at, last_error)
    VALUES ('flows.trigger.v1', 'victim', '{}'::jsonb, 8, now(), 'ZodError: shopId: Required') RETURNING id::text AS id`;
  return row!.id;
}

const stillDead = async (id: string): Promise<boolean> =>
  (await env.db.$queryRaw<{ dead: boolean }[]>`SELECT dead_at IS NOT NULL AS dead FROM outbox_events WHERE id = ${BigInt(id)}`)[0]?.dead === true;

it('an unsigned delete or requeue of a dead event is 401 INVALID_SIGNATURE and changes nothing', async () => {
  const id = await deadEvent();
  for (const action of ['delete', 'requeue']) {
    const res = await request(app).post(`/internal/outbox/${id}/${action}`).set('Content-Type', 'application/json').send(JSON.stringify({ reason: 'x' }));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  }
  expect(await stillDead(id)).toBe(true);
});

it('a captured delete pointed at another event, turned into a requeue, or with its reason changed is 401; it runs once, and its replay is 401', async () => {
  const mine = await deadEvent();
  const other = await deadEvent();
  const c = await ops.capture(['outbox:delete', mine, '--reason', 'not wanted'], { operator: 'alice' });
  expect(c.url).toBe(`/internal/outbox/${mine}/delete`);

  for (const [url, body] of [
    [`/internal/outbox/${other}/delete`, c.body],
    [`/internal/outbox/${mine}/requeue`, c.body],
    [c.url, JSON.stringify({ reason: 'the shop asked', operator: 'alice' })],
  ] as const) {
    const res = await send(c, url, body);
    expect({ url, status: res.status, code: res.body.error?.code }).toEqual({ url, status: 401, code: 'INVALID_SIGNATURE' });
  }
  expect(await stillDead(other)).toBe(true);
  expect(await stillDead(mine)).toBe(true);

  const first = await send(c);
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ id: mine, outcome: 'deleted' });
  const replay = await send(c);
  expect({ status: replay.status, code: replay.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  expect(await stillDead(other)).toBe(true);
});
