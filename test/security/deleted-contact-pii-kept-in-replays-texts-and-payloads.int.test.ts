import type { Express } from 'express';
import request from 'supertest';
import { createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliverShopify, findEverywhere, postSimulator, rid } from '../webhooks';

// The attack: the merchant deletes a contact (DELETE /api/contacts/:id, which
// "erases PII"), and the person's number, email and words are still stored
// and served: replaying the Idempotency-Key of the POST that created it
// answered the stored 201 with phone and email, inbound texts kept number and
// text, and the Shopify payloads that carried the customer stayed as
// received. Now the delete scrubs what customers/redact scrubs: no readable
// trace of the person is left, and the old key no longer replays anything.

describe('a deleted contact', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env.close();
  });

  let seq = 0;
  const customerId = (): number => Date.now() * 100 + seq++;

  it('leaves no trace of its number, email, name or texts anywhere, and its stored responses are not replayed', async () => {
    const sender = `1203${String(Date.now()).slice(-7)}`;
    const shop = await createShop(env.db, { senderId: sender });
    const authz = `Bearer ${await sessionToken(shop.domain)}`;
    const phone = testPhone();
    const email = `erase-${rid('e').toLowerCase()}@example.test`;
    const firstName = rid('Erin');
    const said = `call me at 12 ${rid('Elm')} St`;

    // The customer arrives from Shopify, is updated through the API (keyed), and texts the shop.
    const id = customerId();
    const now = new Date().toISOString();
    expect(await deliverShopify(app, env.db, 'customers/create', { id, phone, email, first_name: firstName, updated_at: now }, shop.domain)).toBe('processed');
    const postKey = rid('key');
    const body = { phone, email, firstName, lastName: 'Erased' };
    const upsert = await request(app).post('/api/contacts').set('Authorization', authz).set('Idempotency-Key', postKey).send(body);
    expect(upsert.status).toBe(200);
    const patch = await request(app).patch(`/api/contacts/${upsert.body.id}`).set('Authorization', authz).set('Idempotency-Key', rid('key')).send({ lastName: 'Erasedtoo' });
    expect(patch.status).toBe(200);
    const inbound = { id: rid('in'), from: phone, to: sender, text: said, timestamp: new Date().toISOString() };
    expect((await postSimulator(app, 'inbound', inbound)).status).toBe(200);
    const needles = [phone, phone.slice(1), email, firstName, said];
    expect((await findEverywhere(env.db, needles)).length).toBeGreaterThan(3);

    expect((await request(app).delete(`/api/contacts/${upsert.body.id}`).set('Authorization', authz)).status).toBe(204);

    expect(await findEverywhere(env.db, needles)).toEqual([]);
    const [text] = await env.db.$queryRaw<{ from_phone: string | null; text: string | null }[]>`
      SELECT from_phone, text FROM inbound_messages WHERE provider_message_id = ${inbound.id}`;
    expect(text).toEqual({ from_phone: null, text: null });
    // The key no longer answers with the erased contact: the request runs anew (an upsert of a returning number).
    const replay = await request(app).post('/api/contacts').set('Authorization', authz).set('Idempotency-Key', postKey).send(body);
    expect(replay.headers['x-idempotency-replay']).toBeUndefined();
  });

  it('drops a stored response quoting the number the contact had before a PATCH moved it', async () => {
    const shop = await createShop(env.db);
    const authz = `Bearer ${await sessionToken(shop.domain)}`;
    const first = testPhone();
    const key = rid('key');
    const created = await request(app).post('/api/contacts').set('Authorization', authz).set('Idempotency-Key', key).send({ phone: first });
    expect(created.status).toBe(201);
    const second = testPhone();
    expect((await request(app).patch(`/api/contacts/${created.body.id}`).set('Authorization', authz).send({ phone: second })).status).toBe(200);

    expect((await request(app).delete(`/api/contacts/${created.body.id}`).set('Authorization', authz)).status).toBe(204);

    expect(await findEverywhere(env.db, [first, first.slice(1), second, second.slice(1)])).toEqual([]);
    const replay = await request(app).post('/api/contacts').set('Authorization', authz).set('Idempotency-Key', key).send({ phone: first });
    expect(replay.headers['x-idempotency-replay']).toBeUndefined();
  });
});
