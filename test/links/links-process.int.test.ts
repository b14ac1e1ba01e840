import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createLinksApp, type LinksApp } from '../../apps/api/src/links/links-app';
import { linkCode } from '../../domain/links/link-code';
import { parseConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { createMetrics, type Metrics } from '../../lib/metrics';
import { productionProblems } from '../../lib/production-config';
import { createCampaign, createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { counterValue } from '../webhooks';

// The redirector as its own process (`npm run start:links`, links-app.ts):
// the api's short-link route and nothing else, so clicks never wait behind
// the api's other traffic. What the api's copy answers, this one answers;
// everything else is a plain 404; /metrics needs the token.

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const METRICS_TOKEN = 'links-test-metrics-token-0f3a9c';

describe('the short-link redirector process', () => {
  let env: TestEnv;
  let app: LinksApp;
  let links: LinksApp['listener'];
  let metrics: Metrics;

  beforeAll(async () => {
    env = await createTestEnv();
    metrics = createMetrics();
    const config = parseConfig({ ...process.env, DATABASE_URL: env.config.DATABASE_URL, METRICS_TOKEN });
    app = createLinksApp({ config, db: env.db, metrics, logger: createLogger({ level: 'warn', name: 'links' }, env.logs), now: () => new Date() });
    links = app.listener;
  });
  afterAll(async () => {
    await app.clicks.close();
    await env.close();
  });

  /** A sent campaign with one link and one recipient, and that recipient's code. */
  async function sentLink(): Promise<{ campaignId: string; code: string; recipientId: bigint }> {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { firstName: 'Ann' });
    const campaign = await createCampaign(env.db, shop.id, { body: 'Hi {{firstName}}: https://shop.example.com/sale?ref=x', status: 'sending' });
    const [row] = await env.db.$queryRaw<{ id: bigint; link_no: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
      VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sent', 'p-links-1', 1, now())
      RETURNING id, (SELECT link_no FROM campaigns WHERE id = ${campaign.id}::uuid) AS link_no`;
    return { campaignId: campaign.id, code: linkCode(env.config.LINK_SIGNING_KEY, Number(row!.link_no), Number(row!.id), 0), recipientId: row!.id };
  }

  it('redirects with the UTM parameters and records the click once, as the api does', async () => {
    const { campaignId, code } = await sentLink();
    const res = await request(links).get(`/${code}`).set('User-Agent', IPHONE).redirects(0);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`https://shop.example.com/sale?ref=x&utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${campaignId}`);
    expect(res.headers['cache-control']).toContain('no-store');
    await app.clicks.flush();
    const clicks = await env.db.$queryRaw<{ bot: boolean; first: boolean }[]>`SELECT bot, first FROM link_clicks WHERE campaign_id = ${campaignId}::uuid`;
    expect(clicks).toEqual([{ bot: false, first: true }]);
    expect(await counterValue(metrics, 'linkRedirects', { outcome: 'redirected' })).toBeGreaterThanOrEqual(1);
  });

  it("redirects Node's own fetch (User-Agent: node) but records it as a crawler, never a click", async () => {
    const { campaignId, code } = await sentLink();
    const server = createServer(app.listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      // No user agent set: Node's fetch sends its own, "node", as any script would.
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/${code}`, { redirect: 'manual' });
      expect(res.status).toBe(302);
    } finally {
      await new Promise((r) => server.close(r));
    }
    await app.clicks.flush();
    const clicks = await env.db.$queryRaw<{ bot: boolean; first: boolean; ua_class: string }[]>`SELECT bot, first, ua_class FROM link_clicks WHERE campaign_id = ${campaignId}::uuid`;
    expect(clicks).toEqual([{ bot: true, first: false, ua_class: 'crawler' }]);
  });

  it('redirects to a link written with non-ASCII characters, percent-encoded, first click and cached ones alike', async () => {
    // A Location header carries ASCII only: the URL as written (€, é, an IDN host) made
    // writeHead throw, a 500 for a cached campaign and, on its first click, a rejection
    // nothing handled (the request hung and the process could die).
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const campaign = await createCampaign(env.db, shop.id, { body: 'Sale: https://bücher.example/€uro?name=José#größe', status: 'sending' });
    const [row] = await env.db.$queryRaw<{ id: bigint; link_no: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
      VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sent', 'p-links-idn', 1, now())
      RETURNING id, (SELECT link_no FROM campaigns WHERE id = ${campaign.id}::uuid) AS link_no`;
    const code = linkCode(env.config.LINK_SIGNING_KEY, Number(row!.link_no), Number(row!.id), 0);
    const expected = `https://xn--bcher-kva.example/%E2%82%ACuro?name=Jos%C3%A9&utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${campaign.id}#gr%C3%B6%C3%9Fe`;
    for (const attempt of ['first', 'cached']) {
      const res = await request(links).get(`/${code}`).set('User-Agent', IPHONE).redirects(0).timeout(5_000);
      expect([attempt, res.status, res.headers.location]).toEqual([attempt, 302, expected]);
    }
  });

  it('behind a proxy, counts a guesser by the address the proxy saw, not by X-Forwarded-For entries the client wrote', async () => {
    const config = parseConfig({ ...process.env, DATABASE_URL: env.config.DATABASE_URL, TRUST_PROXY: 'true', LINK_MISSES_PER_IP_PER_MIN: '3' });
    const proxied = createLinksApp({ config, db: env.db, metrics: createMetrics(), logger: createLogger({ level: 'warn', name: 'links' }, env.logs), now: () => new Date() });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        statuses.push((await request(proxied.listener).get(`/${'A'.repeat(19)}`).set('X-Forwarded-For', `10.9.${i}.1, 203.0.113.7`).redirects(0)).status);
      }
      expect(statuses).toEqual([404, 404, 404, 429, 429]);
      expect((await request(proxied.listener).get(`/${'A'.repeat(19)}`).set('X-Forwarded-For', '203.0.113.8').redirects(0)).status).toBe(404);
    } finally {
      await proxied.clicks.close();
    }
  });

  it('counts an IPv6 guesser by its /64: one subscriber cannot take a fresh budget per address it holds', async () => {
    // A phone or a home gets a whole /64 (2^64 addresses of its own choosing):
    // keyed by the full address, every guess could come from a fresh one.
    const config = parseConfig({ ...process.env, DATABASE_URL: env.config.DATABASE_URL, TRUST_PROXY: 'true', LINK_MISSES_PER_IP_PER_MIN: '3' });
    const proxied = createLinksApp({ config, db: env.db, metrics: createMetrics(), logger: createLogger({ level: 'warn', name: 'links' }, env.logs), now: () => new Date() });
    const guess = async (ip: string): Promise<number> => (await request(proxied.listener).get(`/${'B'.repeat(19)}`).set('X-Forwarded-For', ip).redirects(0)).status;
    try {
      const statuses: number[] = [];
      for (const ip of ['2001:db8:7:2::1', '2001:db8:7:2:0:0:0:2', '2001:DB8:7:2:ab::3', '2001:db8:7:2:ffff:1:2:3', '2001:0db8:0007:0002::9']) statuses.push(await guess(ip));
      expect(statuses).toEqual([404, 404, 404, 429, 429]);
      // The next /64 is someone else.
      expect(await guess('2001:db8:7:3::1')).toBe(404);
    } finally {
      await proxied.clicks.close();
    }
  });

  it('answers a plain 404 for a tampered code and for every other path: none of the api is served here', async () => {
    const { code } = await sentLink();
    const tampered = code.slice(0, -1) + (code.endsWith('a') ? 'b' : 'a');
    const bad = await request(links).get(`/${tampered}`).set('User-Agent', IPHONE).redirects(0);
    expect(bad.status).toBe(404);
    expect(bad.text).toBe('Not found\n');
    for (const path of ['/api/campaigns', '/webhooks/stripe', '/app', '/internal/ops', '/health/full']) {
      const res = await request(links).get(path);
      expect([path, res.status, res.text]).toEqual([path, 404, 'Not found\n']);
    }
    const post = await request(links).post(`/${code}`).send('x');
    expect(post.status).toBe(404);
    expect(post.headers['x-powered-by']).toBeUndefined();
  });

  it('is alive on /health and serves /metrics only with its token', async () => {
    const health = await request(links).get('/health');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok', clicksBuffered: expect.any(Number) });
    expect((await request(links).get('/metrics')).status).toBe(401);
    expect((await request(links).get('/metrics').set('Authorization', 'Bearer wrong')).status).toBe(401);
    const scrape = await request(links).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`);
    expect(scrape.status).toBe(200);
    expect(scrape.text).toContain('link_redirects_total');
    expect(scrape.text).toContain('link_clicks_buffered');
  });

  it('refuses to start in production without its secrets, and asks nothing of the provider, Stripe or Shopify', () => {
    const problems = productionProblems({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://app.example.com' }, 'links');
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['LINK_SIGNING_KEY', 'METRICS_TOKEN']);
    const plainLinks = productionProblems({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://app.example.com', PUBLIC_LINK_BASE: 'http://l.example.com' }, 'links');
    expect(plainLinks).toContain('PUBLIC_LINK_BASE: must be https in production');
  });
});
