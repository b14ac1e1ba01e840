import type { Express } from 'express';
import request from 'supertest';
import { createLinksApp, type LinksApp } from '../../apps/api/src/links/links-app';
import { linkCode } from '../../domain/links/link-code';
import { createLogger } from '../../lib/logger';
import { createMetrics } from '../../lib/metrics';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliverShopify } from '../webhooks';

// Android's default SMS app, Google Messages, has Google fetch every link in
// a received text to draw its preview, with the user agent "GoogleMessages".
// That fetch is no person: counted as a click, every Android recipient would
// "click" the moment the text arrives, inflating the campaign's clicks, and
// the click window (5 days) would then claim their orders long after the view
// window (24 h) let go.

const GOOGLE_MESSAGES = 'GoogleMessages';

describe('a Google Messages link preview', () => {
  let env: TestEnv;
  let app: Express;
  let links: LinksApp;
  let linksNow = new Date();

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
    links = createLinksApp({ config: env.config, db: env.db, metrics: createMetrics(), logger: createLogger({ level: 'warn', name: 'links' }, env.logs), now: () => linksNow });
  });
  afterAll(async () => {
    await links.clicks.close();
    await env.close();
  });

  it('is redirected but is no click: it neither counts in the stats nor attributes an order', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123610' });
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Android', 'Sale https://android.example/sale', 'completed') RETURNING id, link_no`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
      VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0, 'delivered', 'p-android-1', 1, ${twoDaysAgo}, ${twoDaysAgo}) RETURNING id`;

    // Two days ago the text reached an Android phone, and Google fetched its link for the preview.
    linksNow = new Date(twoDaysAgo.getTime() + 5_000);
    const res = await request(links.listener)
      .get(`/${linkCode(env.config.LINK_SIGNING_KEY, Number(c!.link_no), Number(r!.id), 0)}`)
      .set('User-Agent', GOOGLE_MESSAGES)
      .redirects(0);
    expect(res.status).toBe(302);
    await links.clicks.flush();

    // The customer orders now, never having opened the link: outside the view window, so nobody's order.
    const order = {
      id: Date.now(),
      created_at: new Date().toISOString(),
      total_price: '80.00',
      currency: 'USD',
      customer: { id: Date.now() + 1, phone: contact.phone },
      phone: contact.phone,
      landing_site: '/',
      referring_site: null,
      source_name: 'web',
      discount_codes: [],
    };
    expect(await deliverShopify(app, env.db, 'orders/create', order, shop.domain)).toBe('processed');
    expect(await env.db.$queryRaw`SELECT kind FROM order_attributions WHERE shop_id = ${shop.id}::uuid`).toEqual([]);

    const stats = await request(app).get(`/api/campaigns/${c!.id}/stats`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ clicks: 0, uniqueClicks: 0, botClicks: 1, attributedOrders: 0, attributedRevenue: [] });
    const clicks = await env.db.$queryRaw<{ bot: boolean; first: boolean; ua_class: string }[]>`
      SELECT bot, first, ua_class FROM link_clicks WHERE campaign_id = ${c!.id}::uuid`;
    expect(clicks).toEqual([{ bot: true, first: false, ua_class: 'preview' }]);
  });
});
