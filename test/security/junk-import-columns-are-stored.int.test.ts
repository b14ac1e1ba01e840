import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop } from '../factories';
import { sessionToken } from '../session-token';
import { findEverywhere } from '../webhooks';

// The attack: an import whose rows carry columns that are not contact fields
// (or contact fields far longer than any contact may have) up to the request
// limits. They were stored verbatim in contact_imports.rows until the job
// ran: 10 MiB of arbitrary data per import in Postgres, loaded whole by the
// worker. Only the known fields of a row are stored now; a row with any other
// field, or an oversized value, is rejected and none of its values is kept.

describe('junk columns of a contact import are stored', () => {
  let env: TestEnv;
  let app: Express;
  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  it('keeps no value of an unknown or oversized field, before or after the job, and rejects those rows by index', async () => {
    const shop = await createShop(env.db);
    const junk = `junk${randomUUID().replace(/-/g, '')}`;
    const long = `L${randomUUID().replace(/-/g, '')}`.padEnd(900, 'z');
    const res = await request(app)
      .post('/api/contacts/import')
      .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
      .set('Idempotency-Key', randomUUID())
      .send({
        contacts: [
          { phone: '+12015550161', firstName: 'Kept' },
          { phone: '+12015550162', firstName: 'Junk', notes: junk, c2: [junk, junk] },
          { phone: '+12015550163', lastName: long },
          { phone: '+12015550164', tags: Array.from({ length: 60 }, (_, i) => `${junk}-${i}`) },
        ],
      });
    expect(res.status).toBe(202);

    // Staged, before any job ran: the junk is nowhere (the known fields of valid rows are).
    expect(await findEverywhere(env.db, [junk, long.slice(0, 40)])).toEqual([]);
    expect(await findEverywhere(env.db, ['+12015550161'])).not.toEqual([]);

    await env.worker({ queues: ['imports'] });
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    let view: request.Response;
    do {
      await new Promise((r) => setTimeout(r, 50));
      view = await request(app).get(`/api/contacts/imports/${res.body.importId}`).set('Authorization', auth);
    } while (view.body.status !== 'completed' && view.body.status !== 'failed');

    expect(view.body).toMatchObject({ status: 'completed', total: 4, processed: 4, created: 1, updated: 0, rejectedCount: 3 });
    expect(view.body.rejected).toEqual([
      { row: 1, code: 'VALIDATION_FAILED', message: expect.stringMatching(/^notes, c2: /) },
      { row: 2, code: 'VALIDATION_FAILED', message: expect.stringMatching(/^lastName: /) },
      { row: 3, code: 'VALIDATION_FAILED', message: expect.stringMatching(/^tags: /) },
    ]);
    expect(await findEverywhere(env.db, [junk, long.slice(0, 40)])).toEqual([]);
    const [staged] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_import_rows`;
    expect(Number(staged!.n)).toBe(0);
  });
});
