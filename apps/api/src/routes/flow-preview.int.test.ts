import request from 'supertest';
import type { Express } from 'express';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { CODE_LENGTH, trackedLinksOf } from '../../../../domain/links/link-code';
import { countSegments } from '../../../../domain/messaging/segments';

// POST /api/flows/preview: the flow editor's live counter, against real Postgres.

describe('POST /api/flows/preview', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const preview = async (shop: ShopFixture, body: object) =>
    request(app)
      .post('/api/flows/preview')
      .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
      .send(body);

  it('renders fallbacks, the shop name and the discount code, and counts GSM-7 segments at 160/161', async () => {
    const shop = await createShop(env.db, { optOutFooter: false });
    const handle = shop.domain.replace(/\.myshopify\.com$/, '');
    const res = await preview(shop, { body: 'Hi {{firstName|there}}, {{discountCode}} at {{shopName}}', discountCode: 'SAVE10' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      text: `Hi there, SAVE10 at ${handle}`,
      encoding: 'GSM-7',
      characters: `Hi there, SAVE10 at ${handle}`.length,
      segments: 1,
      links: [],
      shortLinkLength: trackedLinksOf(env.config).base.length + 1 + CODE_LENGTH,
    });

    expect((await preview(shop, { body: 'a'.repeat(160) })).body).toMatchObject({ characters: 160, segments: 1 });
    expect((await preview(shop, { body: 'a'.repeat(161) })).body).toMatchObject({ characters: 161, segments: 2 });
    expect((await preview(shop, { body: 'Hello 👋' })).body).toMatchObject({ encoding: 'UCS-2', segments: 1 });
  });

  it('counts a checkout link of the usual length and the opt-out footer when the shop adds it', async () => {
    const shop = await createShop(env.db, { optOutFooter: true });
    const res = await preview(shop, { body: 'Your cart is waiting: {{checkoutUrl}}' });
    expect(res.status).toBe(200);
    expect(res.body.text).toMatch(new RegExp(`^Your cart is waiting: https://${shop.domain.replace(/\./g, '\\.')}/\\d+/checkouts/\\S+/recover\\?key=\\S+\\nReply STOP to opt out$`));
    expect(res.body.characters).toBeGreaterThan(120);
    expect(res.body.links).toEqual([]);
  });

  it('shows and counts each written link as a short link of the fixed length the send puts in', async () => {
    const shop = await createShop(env.db, { optOutFooter: false });
    const sample = `${trackedLinksOf(env.config).base}/${'x'.repeat(CODE_LENGTH)}`;
    const res = await preview(shop, { body: `Sale ${'a'.repeat(120)} https://shop.example/a-very-long-path/that-is-long` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ text: `Sale ${'a'.repeat(120)} ${sample}`, links: ['https://shop.example/a-very-long-path/that-is-long'], shortLinkLength: sample.length });
    expect(res.body.characters).toBe(`Sale ${'a'.repeat(120)} ${sample}`.length);
    expect(res.body.segments).toBe(countSegments(res.body.text).segments);
    expect(res.body.segments).toBe(2);
  });

  it('refuses a body the send step would refuse, on its path, and writes nothing', async () => {
    const shop = await createShop(env.db);
    const res = await preview(shop, { body: 'Hi {{nickname}}' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'body' })]));
    expect((await preview(shop, { body: '' })).status).toBe(400);
    const [n] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flows WHERE shop_id = ${shop.id}::uuid`;
    expect(n!.n).toBe(0);
  });

  it('refuses a discount code the send step would refuse (it could never be sent, so its count means nothing); an empty one is none', async () => {
    const shop = await createShop(env.db);
    const body = 'Your code: {{discountCode|none yet}}';
    for (const code of ['SAVE 10', 'ÉTÉ10', 'SAVE10🎉', 'x'.repeat(65)]) {
      const res = await preview(shop, { body, discountCode: code });
      expect({ code, status: res.status }).toEqual({ code, status: 400 });
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'discountCode' })]));
    }
    for (const code of ['', '   ', null]) {
      const res = await preview(shop, { body, discountCode: code });
      expect(res.status).toBe(200);
      expect(res.body.text.split('\n')[0]).toBe('Your code: none yet');
    }
    expect((await preview(shop, { body, discountCode: ' SAVE-10_x ' })).body.text.split('\n')[0]).toBe('Your code: SAVE-10_x');
  });

  it('needs a session', async () => {
    expect((await request(app).post('/api/flows/preview').send({ body: 'Hi' })).status).toBe(401);
  });
});
