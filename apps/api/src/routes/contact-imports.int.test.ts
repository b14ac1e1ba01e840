import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, testPhone } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { dispatchOutbox } from '../../../../domain/outbox/outbox';

describe('contact import API', () => {
  let env: TestEnv;
  let app: Express;
  let shop: { id: string; domain: string };
  const auth = async () => `Bearer ${await sessionToken(shop.domain)}`;

  beforeAll(async () => {
    // The import budget (10/min per shop) is not what this file tests.
    env = await createTestEnv({ RATE_LIMIT_IMPORTS_PER_MIN: '10000' });
    ({ app } = await env.api());
    shop = await createShop(env.db);
  });
  afterAll(async () => {
    await env.close();
  });

  // A shop has one import in flight at a time: tests that leave one queued use a shop of their own.
  const submit = async (body: unknown, key: string | null = randomUUID(), as: { domain: string } = shop) => {
    const req = request(app).post('/api/contacts/import').set('Authorization', `Bearer ${await sessionToken(as.domain)}`);
    if (key) req.set('Idempotency-Key', key);
    return req.send(body as object);
  };
  const status = async (id: string) => request(app).get(`/api/contacts/imports/${id}`).set('Authorization', await auth());
  const importCount = async () => Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_imports`)[0]!.n);

  async function untilFinished(id: string): Promise<request.Response> {
    for (;;) {
      const res = await status(id);
      if (res.body.status === 'completed' || res.body.status === 'failed') return res;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('accepts an import (202), queues contacts.import.v1 as import-<id>, and the worker completes it', async () => {
    const res = await submit({
      defaultCountry: 'US',
      contacts: [
        { phone: '(201) 555-0111', firstName: 'Ada', tags: ['Imported'] },
        { phone: '555-0111' },
        { phone: '+44 20 7946 0970', smsConsent: 'subscribed' },
        { phone: '+12015550112', colour: 'red' },
      ],
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ importId: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'queued' });
    expect(res.headers.location).toBe(`/api/contacts/imports/${res.body.importId}`);

    const { deps } = await env.worker({ queues: ['imports'] });
    const job = await deps.queues.get('imports').getJob(`import-${res.body.importId}`);
    expect(job?.name).toBe('contacts.import.v1');
    expect(job?.data).toMatchObject({ importId: res.body.importId, shopId: shop.id });

    const done = await untilFinished(res.body.importId);
    expect(done.status).toBe(200);
    expect(done.body).toEqual({
      id: res.body.importId,
      status: 'completed',
      total: 4,
      processed: 4,
      created: 2,
      updated: 0,
      rejected: [
        { row: 1, code: 'INVALID_PHONE', message: expect.any(String) },
        { row: 3, code: 'VALIDATION_FAILED', message: expect.stringContaining('colour') },
      ],
      rejectedCount: 2,
      error: null,
    });
    const list = await request(app).get('/api/contacts').query({ tag: 'imported' }).set('Authorization', await auth());
    expect(list.body.data.map((c: { phone: string }) => c.phone)).toEqual(['+12015550111']);
  });

  it('a row with an unpaired UTF-16 surrogate in a value or a field name fails the request as a 400 naming it, never a 500', async () => {
    const before = await importCount();
    for (const raw of [
      JSON.stringify({ contacts: [{ phone: testPhone(), firstName: 'Grace' }, { phone: testPhone(), lastName: 'HopperLONE' }] }).replace('LONE', '\\ud800'),
      JSON.stringify({ contacts: [{ phone: testPhone(), LONE: 'x' }] }).replace('LONE', '\\udc00'),
    ]) {
      const res = await request(app).post('/api/contacts/import').set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
        .set('Idempotency-Key', randomUUID()).set('Content-Type', 'application/json').send(raw);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect(await importCount()).toBe(before);
  });

  it('a row of unknown fields whose description is cut through an emoji is that row\'s rejection, never a 500', async () => {
    // Unknown field names, each storable, described in at most 200 characters: the cut falls between the two halves of 😀.
    const row = { ['a'.repeat(64)]: 'x', ['b'.repeat(64)]: 'x', ['d'.repeat(64)]: 'x', ['e😀']: 'x' };
    const res = await submit({ contacts: [row, { phone: testPhone() }] }, randomUUID(), await createShop(env.db));
    expect(res.status).toBe(202);
    const [rejection] = await env.db.$queryRaw<{ problem: string }[]>`
      SELECT problem FROM contact_import_rows WHERE import_id = ${res.body.importId}::uuid AND row_index = 0`;
    expect(rejection!.problem).toMatch(/^a{64}, b{64}, d{64}, e/);
    expect(rejection!.problem).not.toMatch(/[\uD800-\uDBFF]$/);
  });

  it('requires an Idempotency-Key, and a replay with the same key creates no second import', async () => {
    const body = { contacts: [{ phone: '+12015550120' }] };
    const before = await importCount();
    const missing = await submit(body, null);
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    expect(await importCount()).toBe(before);

    const own = await createShop(env.db);
    const key = randomUUID();
    const first = await submit(body, key, own);
    const replay = await submit(body, key, own);
    expect(first.status).toBe(202);
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await importCount()).toBe(before + 1);
  });

  it('an import stays queued and is published by the outbox dispatcher when the queue was unreachable', async () => {
    const { app: brokenApp } = await env.api({
      producer: { add: async () => Promise.reject(new Error('Connection is closed')), addBulk: async () => Promise.reject(new Error('Connection is closed')) },
    });
    const own = await createShop(env.db);
    const res = await request(brokenApp)
      .post('/api/contacts/import')
      .set('Authorization', `Bearer ${await sessionToken(own.domain)}`)
      .set('Idempotency-Key', randomUUID())
      .send({ contacts: [{ phone: '+12015550130' }] });
    expect(res.status).toBe(202);
    const deps = env.workerDeps();
    const [pending] = await env.db.$queryRaw<{ published_at: Date | null }[]>`
      SELECT published_at FROM outbox_events WHERE event_type = 'contacts.import.v1' AND aggregate_id = ${res.body.importId}`;
    expect(pending!.published_at).toBeNull();
    expect(await dispatchOutbox(env.db, deps.producer)).toBeGreaterThanOrEqual(1);
    expect(await deps.queues.get('imports').getJob(`import-${res.body.importId}`)).toBeDefined();
  });

  it.each([
    ['no rows', { contacts: [] }, 'contacts'],
    ['a row that is not an object', { contacts: [{ phone: '+12015550140' }, 'x'] }, 'contacts.1'],
    ['a nested value in a row', { contacts: [{ phone: '+12015550140', extra: { deep: true } }] }, 'contacts.0.extra'],
    ['a NUL character', { contacts: [{ phone: '+12015550140\u0000' }] }, 'contacts.0.phone'],
    ['an unknown country', { contacts: [{ phone: '2015550140' }], defaultCountry: 'ZZ' }, 'defaultCountry'],
    ['an unknown top-level field', { contacts: [{ phone: '+12015550140' }], mode: 'replace' }, 'mode'],
    ['more than 50 000 rows', { contacts: Array.from({ length: 50_001 }, () => ({})) }, 'contacts'],
  ])('rejects %s with 400 and stores nothing', async (_why, body, path) => {
    const before = await importCount();
    const res = await submit(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    expect(await importCount()).toBe(before);
  });

  it('another shop\'s import, an unknown id and a malformed id are 404', async () => {
    const other = await createShop(env.db);
    const theirs = await request(app)
      .post('/api/contacts/import')
      .set('Authorization', `Bearer ${await sessionToken(other.domain)}`)
      .set('Idempotency-Key', randomUUID())
      .send({ contacts: [{ phone: '+12015550150' }] });
    expect(theirs.status).toBe(202);
    for (const id of [theirs.body.importId, randomUUID(), 'nope']) {
      const res = await status(id);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
  });
});
