import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { MAX_STEPS_JSON_BYTES, stepsInputSchema } from '../../../../domain/flows/flow-input';
import { jsonbTextBytes } from '../../../../domain/flows/jsonb-text-bytes';

// A flow's steps are bounded twice: by the request schema (flow-input.ts) and
// by the database (flow_versions_steps_check: octet_length(steps::text) ≤
// 128 KiB). Every step the schema accepts must fit the CHECK, or a valid
// request is a 500: bodies of control characters (6 bytes each as stored)
// did that with 14 steps of 1 600.

describe('flow step bodies and the stored size of a version', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const versions = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_versions WHERE shop_id = ${shopId}::uuid`;
    return r!.n;
  };
  const controls = Array.from({ length: 14 }, () => ({ type: 'send', body: '\u0001'.repeat(1600) }));
  const refusal = { code: 'VALIDATION_FAILED', details: expect.arrayContaining([{ path: 'steps.0.body', message: expect.stringContaining('U+0001 at index 0') }]) };

  it('POST with send bodies of control characters is 400 naming the body, and writes nothing', async () => {
    const shop = await createShop(env.db);
    const res = await request(app).post('/api/flows').set('Authorization', await auth(shop)).send({ name: 'Big', trigger: { type: 'contact_subscribed' }, steps: controls });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject(refusal);
    expect(await versions(shop.id)).toBe(0);
  });

  it('PATCH with them is 400 too, and the flow keeps its version', async () => {
    const shop = await createShop(env.db);
    const created = await request(app).post('/api/flows').set('Authorization', await auth(shop)).send({ name: 'Small', trigger: { type: 'contact_subscribed' }, steps: [{ type: 'send', body: 'Hi' }] });
    expect(created.status).toBe(201);
    const res = await request(app).patch(`/api/flows/${created.body.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({ steps: controls });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject(refusal);
    expect(await versions(shop.id)).toBe(1);
  });

  it('one control character in a single body is refused as well, and the preview refuses what saving would', async () => {
    const shop = await createShop(env.db);
    const res = await request(app).post('/api/flows').set('Authorization', await auth(shop))
      .send({ name: 'Bell', trigger: { type: 'contact_subscribed' }, steps: [{ type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Hi\u007f there' }] });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: 'steps.1.body', message: expect.stringContaining('U+007F at index 2') }]);
    const preview = await request(app).post('/api/flows/preview').set('Authorization', await auth(shop)).send({ body: 'Hi\u0007' });
    expect([preview.status, preview.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('tabs and line breaks are text, as in a campaign body', async () => {
    const shop = await createShop(env.db);
    const res = await request(app).post('/api/flows').set('Authorization', await auth(shop))
      .send({ name: 'Lines', trigger: { type: 'contact_subscribed' }, steps: [{ type: 'send', body: 'Hi {{firstName|there}},\r\n\tthanks!\nSee you' }] });
    expect(res.status).toBe(201);
    expect(res.body.currentVersion.steps[0].body).toBe('Hi {{firstName|there}},\r\n\tthanks!\nSee you');
  });

  it("the schema's measure of the stored steps is Postgres' own, and the largest flow it accepts fits the CHECK", async () => {
    // Every escape jsonb writes: quotes, backslashes, line breaks, tabs; 2-, 3- and 4-byte characters; keys of every step kind.
    const tricky = stepsInputSchema.parse([
      { type: 'send', body: 'He said "hi" \\ back\r\n\tçà € 🎉 {{firstName|friend}}', discountCode: 'SAVE-10' },
      { type: 'wait', untilLocalTime: { from: '09:00', to: '17:30' } },
      { type: 'condition', check: { kind: 'tag', tag: 'vip', is: true } },
      { type: 'send', body: 'x', discountCode: null },
    ]);
    // The largest: 20 send steps of 1 600 three-byte characters, each stored as it is.
    const largest = stepsInputSchema.parse(Array.from({ length: 20 }, () => ({ type: 'send', body: '€'.repeat(1600) })));
    for (const steps of [tricky, largest]) {
      const [r] = await env.db.$queryRaw<{ n: number }[]>`SELECT octet_length(${JSON.stringify(steps)}::jsonb::text)::int AS n`;
      expect(jsonbTextBytes(steps)).toBe(r!.n);
    }
    expect(jsonbTextBytes(largest)).toBeLessThan(MAX_STEPS_JSON_BYTES);
    const shop = await createShop(env.db);
    const res = await request(app).post('/api/flows').set('Authorization', await auth(shop)).send({ name: 'Largest', trigger: { type: 'contact_subscribed' }, steps: largest });
    expect(res.status).toBe(201);
  });
});
