import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createContact, createShop, type ShopFixture } from '../factories';
import { sessionToken } from '../session-token';

// The attack: a merchant's test trigger (POST /api/flows/:id/test) names a
// contact id of another shop, to have its own flow text a number it never
// collected (or to learn whether the id exists). The contact is looked up
// within the caller's shop only: 404 like any unknown id, no run, nothing
// written; the same request for its own contact works.

describe('flow test run texts another shop\'s contact', () => {
  let env: TestEnv;
  let app: Express;
  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const call = async (shop: ShopFixture, method: 'post', path: string, body: object) =>
    request(app)[method](path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  it('404 NOT_FOUND for the other shop\'s contact, no run; 201 for its own', async () => {
    const attacker = await createShop(env.db);
    const victim = await createShop(env.db);
    const victimContact = await createContact(env.db, victim.id);
    const ownContact = await createContact(env.db, attacker.id);
    const flow = await call(attacker, 'post', '/api/flows', { name: 'Probe', trigger: { type: 'contact_subscribed' }, steps: [{ type: 'send', body: 'Hi {{firstName}}' }] });
    expect(flow.status).toBe(201);

    const res = await call(attacker, 'post', `/api/flows/${flow.body.id}/test`, { contactId: victimContact.id });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'Contact not found' });
    const unknown = await call(attacker, 'post', `/api/flows/${flow.body.id}/test`, { contactId: randomUUID() });
    expect(unknown.body.error).toEqual({ ...res.body.error, requestId: unknown.body.error.requestId });
    const [runs] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_runs WHERE contact_id = ${victimContact.id}::uuid`;
    expect(runs!.n).toBe(0);

    const own = await call(attacker, 'post', `/api/flows/${flow.body.id}/test`, { contactId: ownContact.id });
    expect(own.status).toBe(201);
    expect(own.body.contactId).toBe(ownContact.id);
  });
});
