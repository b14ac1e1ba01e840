import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop } from '../factories';
import { sessionToken } from '../session-token';

// The attack: an import of rows that are all rejected. Its status response
// listed every rejection: megabytes per poll (a merchant's dashboard polls
// it), built from one ever-growing jsonb column. Rejections now live in their
// own table; the status quotes the first 100 with `rejectedCount`, and GET
// …/rejections pages them all with the standard list shape.

const ROWS = 20_000;

describe('an import status returns megabytes of rejections', () => {
  let env: TestEnv;
  let app: Express;
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_IMPORTS_PER_MIN: '100000' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  it('the status body stays small and the rejections are paged, each exactly once, in row order', async () => {
    const shop = await createShop(env.db);
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const res = await request(app)
      .post('/api/contacts/import')
      .set('Authorization', auth)
      .set('Idempotency-Key', randomUUID())
      .send({ contacts: Array.from({ length: ROWS }, (_, i) => ({ phone: `not a phone number, row ${i}` })) });
    expect(res.status).toBe(202);
    await env.worker({ queues: ['imports'] });
    let status: request.Response;
    do {
      await new Promise((r) => setTimeout(r, 100));
      status = await request(app).get(`/api/contacts/imports/${res.body.importId}`).set('Authorization', auth);
    } while (status.body.status !== 'completed' && status.body.status !== 'failed');

    expect(status.text.length).toBeLessThan(32_768);
    expect(status.body).toMatchObject({ status: 'completed', processed: ROWS, created: 0, updated: 0, rejectedCount: ROWS });
    expect(status.body.rejected).toHaveLength(100);
    expect(status.body.rejected[0]).toEqual({ row: 0, code: 'INVALID_PHONE', message: expect.stringMatching(/^phone: /) });

    const rows: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: request.Response = await request(app)
        .get(`/api/contacts/imports/${res.body.importId}/rejections`)
        .query(cursor ? { limit: 200, cursor } : { limit: 200 })
        .set('Authorization', auth);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(200);
      rows.push(...page.body.data.map((r: { row: number }) => r.row));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(ROWS / 200);
    expect(rows).toEqual(Array.from({ length: ROWS }, (_, i) => i));
  }, 120_000);

  it('a cursor it did not mint is 400 on cursor; another shop\'s import is 404', async () => {
    const shop = await createShop(env.db);
    const other = await createShop(env.db);
    const res = await request(app)
      .post('/api/contacts/import')
      .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
      .set('Idempotency-Key', randomUUID())
      .send({ contacts: [{ phone: 'nope' }] });
    const url = `/api/contacts/imports/${res.body.importId}/rejections`;
    for (const cursor of ['x', Buffer.from(JSON.stringify({ row: -5 })).toString('base64url'), Buffer.from('{"row":"1"}').toString('base64url')]) {
      const bad = await request(app).get(url).query({ cursor }).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
      expect([bad.status, bad.body.error.code, bad.body.error.details]).toEqual([400, 'VALIDATION_FAILED', [expect.objectContaining({ path: 'cursor' })]]);
    }
    const foreign = await request(app).get(url).set('Authorization', `Bearer ${await sessionToken(other.domain)}`);
    expect([foreign.status, foreign.body.error.code]).toEqual([404, 'NOT_FOUND']);
  });
});
