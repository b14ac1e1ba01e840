import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { clickBufferOf } from '../../apps/api/src/links/short-links';
import { launchCampaign } from '../../domain/campaigns/launch-campaign';
import { pruneCampaignRecipients } from '../../domain/campaigns/prune-campaign-recipients';
import { renderBatch } from '../../domain/campaigns/render-batch';
import { sendBatch } from '../../domain/campaigns/send-batch';
import { CODE_LENGTH, linkCode, trackedLinksOf, type TrackedLinks } from '../../domain/links/link-code';
import { recordClicks } from '../../domain/links/record-clicks';
import type { OutboundMessage, SmsProvider } from '../../domain/messaging/providers/provider';
import { countSegments } from '../../domain/messaging/segments';
import { parseConfig } from '../../lib/config';
import type { ApiDeps } from '../../apps/api/src/deps';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { disableQuietHours, simulatorProvider, startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { counterValue, postShopify, postSimulator, rid, webhookEvent } from '../webhooks';

// Issue #16 items 1 and 2 end to end: a body's links become per-recipient
// short links counted in segments, a click redirects with UTM parameters and
// is recorded once (bots and previews redirected, never counted), an order
// placed after a click is attributed once to that campaign (after a delivery
// only, to the campaign delivered), nothing outside the windows, nothing
// across shops.

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const IMESSAGE_PREVIEW = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0';
const BODY = 'Hi {{firstName}}! Sale: https://shop.example.com/sale?ref=x#top and FAQ {{link:https://shop.example.com/faq}}.';

describe('tracked links, clicks and attribution', () => {
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let sim: Awaited<ReturnType<typeof startSimulator>>['sim'];
  let simUrl: string;
  let links: TrackedLinks;
  let webhooks: Awaited<ReturnType<TestEnv['worker']>>['deps'];
  const sent: OutboundMessage[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps: api } = await env.api());
    ({ deps: webhooks } = await env.worker({ queues: ['webhooks'] }));
    ({ sim, url: simUrl } = await startSimulator());
    links = trackedLinksOf(env.config);
  });
  afterAll(async () => {
    await env.close();
    await sim.stop();
  });

  const auth = async (shop: ShopFixture): Promise<string> => `Bearer ${await sessionToken(shop.domain)}`;
  const pathOf = (shortLink: string): string => new URL(shortLink).pathname;

  /** The simulator as provider, with what it was sent kept for the assertions. */
  function recordingProvider(): SmsProvider {
    const real = simulatorProvider(simUrl);
    return {
      name: real.name,
      dedupsByReference: real.dedupsByReference,
      maxBatchSize: real.maxBatchSize,
      sendBatch: async (messages, ctx) => {
        sent.push(...messages);
        return real.sendBatch(messages, ctx);
      },
    };
  }

  let orderSeq = 1;
  function order(o: { phone: string; createdAt?: Date; id?: number; total?: string }) {
    return {
      id: o.id ?? Date.now() * 1000 + orderSeq++,
      created_at: (o.createdAt ?? new Date()).toISOString(),
      total_price: o.total ?? '42.00',
      currency: 'USD',
      customer: { id: Date.now() * 1000 + orderSeq++, phone: o.phone },
      phone: o.phone,
      landing_site: '/sale?utm_source=sms',
      referring_site: null,
      source_name: 'web',
      discount_codes: [],
      line_items: [],
    };
  }

  async function deliverOrder(shop: ShopFixture, body: Record<string, unknown>): Promise<void> {
    const webhookId = rid('wh');
    expect((await postShopify(app, 'orders/create', body, { shopDomain: shop.domain, webhookId })).status).toBe(200);
    // A repeated body may be dropped at the door (docs/webhooks.md): no row is as good as processed.
    await waitFor('order processed', async () => ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
  }

  const attributionOf = async (shopId: string, orderId: number) =>
    (await env.db.$queryRaw<{ campaign_id: string; kind: string }[]>`
      SELECT campaign_id, kind FROM order_attributions WHERE shop_id = ${shopId}::uuid AND order_id = ${String(orderId)}`)[0];

  it('rewrites links per recipient, counts them in segments, redirects, records clicks once and attributes orders once', async () => {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    // London numbers: sendable at any hour once the shop's quiet hours are off (US numbers keep the legal floor).
    const alice = await createContact(env.db, shop.id, { firstName: 'Alice', phone: '+447911123401' });
    const bob = await createContact(env.db, shop.id, { firstName: 'Bob', phone: '+447911123402' });
    const carol = await createContact(env.db, shop.id, { firstName: 'Carol', phone: '+447911123403' });
    const authA = await auth(shop);

    // Create, preview and enqueue through the api: the short link's length is what is shown and reserved.
    const created = await request(app).post('/api/campaigns').set('Authorization', authA).send({ name: 'Links', body: BODY });
    expect(created.status).toBe(201);
    const campaignId = created.body.id as string;
    const preview = await request(app).post(`/api/campaigns/${campaignId}/preview`).set('Authorization', authA).send({ contactId: alice.id });
    expect(preview.status).toBe(200);
    expect(preview.body.links).toEqual(['https://shop.example.com/sale?ref=x#top', 'https://shop.example.com/faq']);
    const sample = `${links.base}/${'x'.repeat(CODE_LENGTH)}`;
    expect(preview.body.text).toBe(`Hi Alice! Sale: ${sample} and FAQ ${sample}.\nReply STOP to opt out`);
    expect(preview.body.shortLinkLength).toBe(sample.length);
    expect(preview.body.segments).toBe(countSegments(preview.body.text).segments);
    const enqueued = await request(app).post(`/api/campaigns/${campaignId}/enqueue`).set('Authorization', authA).set('Idempotency-Key', rid('k')).send({});
    expect(enqueued.status).toBe(202);
    expect(enqueued.body.creditsReserved).toBe(3 * preview.body.segments);

    // Launch and send with the simulator.
    const worker = env.workerDeps();
    expect((await launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(), batchSize: 100 }, { campaignId, shopId: shop.id, traceId: 't-links' })).outcome).toBe('launched');
    const result = await sendBatch(
      { db: env.db, provider: recordingProvider(), now: () => new Date(), leaseMs: 60_000, phoneHashKey: env.config.PHONE_HASH_KEY, links },
      { campaignId, shopId: shop.id, batchNo: 0, traceId: 't-links' },
    );
    expect(result.outcome).toBe('done');

    const rows = await env.db.$queryRaw<{ id: bigint; contact_id: string; segments: number; status: string; provider_message_id: string }[]>`
      SELECT id, contact_id, segments, status, provider_message_id FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid ORDER BY id`;
    expect(rows.map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
    const shortLinkPattern = new RegExp(`${links.base.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/[0-9A-Za-z]{${CODE_LENGTH}}`, 'g');
    const byContact = new Map<string, { text: string; links: string[]; recipientId: bigint }>();
    for (const r of rows) {
      const m = sent.find((s) => s.reference === `r${r.id}`);
      expect(m).toBeDefined();
      const found = m!.text.match(shortLinkPattern) ?? [];
      expect(found).toHaveLength(2);
      expect(m!.text).not.toContain('shop.example.com');
      // Counted in segments at the short link's length: what was debited is the text's count, the preview's for Alice.
      expect(r.segments).toBe(countSegments(m!.text).segments);
      byContact.set(r.contact_id, { text: m!.text, links: found, recipientId: r.id });
    }
    const a = byContact.get(alice.id)!;
    expect(a.text.length).toBe(preview.body.text.length);
    // Per recipient and per link; deterministic, so a re-send renders the same codes.
    expect(new Set([...byContact.values()].flatMap((v) => v.links)).size).toBe(6);
    const ctx = { body: BODY, shopName: 'x', senderId: 'Marketing', optOutFooter: true, linkNo: await linkNoOf(campaignId) };
    const again = renderBatch([{ id: String(a.recipientId), status: 'sending', resend: true, attempt: 2, phone: alice.phone, firstName: 'Alice', lastName: null }], ctx, links);
    expect(again.messages[0]!.text.match(shortLinkPattern)).toEqual(a.links);

    // Clicks: a person twice, iMessage's preview, a HEAD: all redirected with UTM parameters, the fragment kept.
    const expected = `https://shop.example.com/sale?ref=x&utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${campaignId}#top`;
    for (const ua of [IPHONE, IPHONE, IMESSAGE_PREVIEW]) {
      const res = await request(app).get(pathOf(a.links[0]!)).set('User-Agent', ua).redirects(0);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe(expected);
      expect(res.headers['cache-control']).toContain('no-store');
    }
    const head = await request(app).head(pathOf(a.links[1]!)).set('User-Agent', IPHONE).redirects(0);
    expect(head.status).toBe(302);
    expect(head.headers.location).toBe(`https://shop.example.com/faq?utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${campaignId}`);
    await clickBufferOf(app).flush();

    const clicks = await env.db.$queryRaw<{ bot: boolean; first: boolean; ua_class: string; contact_id: string; shop_id: string; link_index: number }[]>`
      SELECT bot, first, ua_class, contact_id, shop_id, link_index FROM link_clicks WHERE campaign_id = ${campaignId}::uuid ORDER BY clicked_at, id`;
    expect(clicks).toHaveLength(4);
    expect(clicks.filter((c) => !c.bot).map((c) => c.ua_class)).toEqual(['ios', 'ios']);
    expect(clicks.filter((c) => c.bot).map((c) => c.ua_class).sort()).toEqual(['head', 'preview']);
    expect(clicks.filter((c) => c.first)).toHaveLength(1);
    expect(new Set(clicks.map((c) => c.contact_id))).toEqual(new Set([alice.id]));
    expect(new Set(clicks.map((c) => c.shop_id))).toEqual(new Set([shop.id]));
    expect(await counterValue(api.metrics, 'linkClicks', { kind: 'human' })).toBe(2);
    expect(await counterValue(api.metrics, 'linkClicks', { kind: 'bot' })).toBe(2);

    // A flush that is retried records nothing twice.
    const retried = { id: randomUUID(), campaignId, recipientId: Number(a.recipientId), linkIndex: 0, clickedAt: new Date(), uaClass: 'ios' as const, bot: false };
    expect((await recordClicks(env.db, [retried])).human).toBe(1);
    expect((await recordClicks(env.db, [retried])).human).toBe(0);

    // Bob's message is delivered (signed report); Carol's is only sent.
    const bobRow = rows.find((r) => r.contact_id === bob.id)!;
    await postSimulator(app, 'status', { id: bobRow.provider_message_id, status: 'delivered', timestamp: new Date().toISOString(), reference: `r${bobRow.id}` });
    await waitFor('bob delivered', async () => (await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaign_recipients WHERE id = ${bobRow.id}`)[0]?.status === 'delivered');

    // Alice ordered after her click: the campaign's, by click, once however often Shopify delivers it.
    const aliceOrder = order({ phone: alice.phone });
    await deliverOrder(shop, aliceOrder);
    await deliverOrder(shop, aliceOrder);
    expect(await attributionOf(shop.id, aliceOrder.id)).toEqual({ campaign_id: campaignId, kind: 'click' });
    // Bob never clicked but received it: by view. Carol's was never delivered: nothing.
    const bobOrder = order({ phone: bob.phone, total: '10.50' });
    await deliverOrder(shop, bobOrder);
    expect(await attributionOf(shop.id, bobOrder.id)).toEqual({ campaign_id: campaignId, kind: 'view' });
    const carolOrder = order({ phone: carol.phone });
    await deliverOrder(shop, carolOrder);
    expect(await attributionOf(shop.id, carolOrder.id)).toBeUndefined();

    // Outside both windows (the shop narrows them to an hour): not attributed.
    expect((await request(app).patch('/api/shop').set('Authorization', authA).send({ attribution: { clickWindowHours: 1, viewWindowHours: 1 } })).status).toBe(200);
    const late = order({ phone: alice.phone, createdAt: new Date(Date.now() + 2 * 3600_000) });
    await deliverOrder(shop, late);
    const lateBob = order({ phone: bob.phone, createdAt: new Date(Date.now() + 2 * 3600_000) });
    await deliverOrder(shop, lateBob);
    expect(await attributionOf(shop.id, late.id)).toBeUndefined();
    expect(await attributionOf(shop.id, lateBob.id)).toBeUndefined();

    // Carol's message is reported undelivered: it still went out, and still counts as a message sent.
    const carolRow = rows.find((r) => r.contact_id === carol.id)!;
    await postSimulator(app, 'status', { id: carolRow.provider_message_id, status: 'failed', errorCode: 'absent_subscriber', timestamp: new Date().toISOString(), reference: `r${carolRow.id}` });
    await waitFor('carol undelivered', async () => (await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaign_recipients WHERE id = ${carolRow.id}`)[0]?.status === 'failed');

    // Stats: by the api, for the campaign and in the list.
    const stats = await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', authA);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      messagesSent: 3,
      clicks: 3,
      uniqueClicks: 1,
      botClicks: 2,
      clickRate: 0.3333,
      attributedOrders: 2,
      attributedRevenue: [{ currency: 'USD', orders: 2, amount: '52.50', perMessage: '17.5000', perCredit: expect.any(String) }],
    });
    expect(Number(stats.body.attributedRevenue[0].perCredit)).toBeCloseTo(52.5 / stats.body.creditsDebited, 4);
    const list = await request(app).get('/api/campaigns').set('Authorization', authA);
    // The list reads the batches' counters, the stats count the rows: the same figures.
    const listed = list.body.data.find((c: { id: string }) => c.id === campaignId);
    const performance = ['messagesSent', 'clicks', 'uniqueClicks', 'botClicks', 'clickRate', 'attributedOrders', 'attributedRevenue'] as const;
    for (const k of performance) expect([k, listed[k]]).toEqual([k, stats.body[k]]);
    expect(await counterValue(webhooks.metrics, 'attributedOrders', { kind: 'click' })).toBe(1);
    expect(await counterValue(webhooks.metrics, 'attributedOrders', { kind: 'view' })).toBe(1);
    expect(await counterValue(webhooks.metrics, 'attributedRevenue', { currency: 'USD' })).toBeCloseTo(52.5, 6);

    // Another shop: the same customer's order there is never this campaign's, and it cannot read the stats.
    const other = await createShop(env.db, { credits: 10 });
    await createContact(env.db, other.id, { phone: alice.phone, firstName: 'Alice' });
    const elsewhere = order({ phone: alice.phone });
    await deliverOrder(other, elsewhere);
    expect(await attributionOf(other.id, elsewhere.id)).toBeUndefined();
    expect(await attributionOf(shop.id, elsewhere.id)).toBeUndefined();
    expect((await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', await auth(other))).status).toBe(404);
    const otherList = await request(app).get('/api/campaigns').set('Authorization', await auth(other));
    expect(otherList.body.data).toEqual([]);
  });

  it('answers 404 with a constant body for codes that are not ours, and 429 to an IP that keeps guessing', async () => {
    const shop = await createShop(env.db);
    const campaign = await env.db.$queryRaw<{ link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'c', 'https://example.com', 'completed') RETURNING link_no`;
    const linkNo = Number(campaign[0]!.link_no);
    const valid = linkCode(links.signingKey, linkNo, 1, 0);
    const tampered = valid.slice(0, -1) + (valid.endsWith('A') ? 'B' : 'A');
    const otherKey = linkCode('another-key-of-16-characters', linkNo, 1, 0);
    const unknownCampaign = linkCode(links.signingKey, 900_000_000, 1, 0);
    const noSuchLink = linkCode(links.signingKey, linkNo, 1, 5);
    const bodies = new Set<string>();
    for (const code of [tampered, otherKey, unknownCampaign, noSuchLink, 'A'.repeat(CODE_LENGTH)]) {
      const res = await request(app).get(`/${code}`).redirects(0);
      expect(res.status).toBe(404);
      expect(res.headers.location).toBeUndefined();
      bodies.add(res.text);
    }
    expect([...bodies]).toEqual(['Not found\n']);

    // A guesser from one address is cut off; nobody else is.
    const fresh = await env.api({ config: { ...env.config, LINK_MISSES_PER_IP_PER_MIN: 3 } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(fresh.app).get(`/${tampered}`).redirects(0)).status);
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
  });

  it('behind a proxy, counts a guesser by the address the proxy saw, not by X-Forwarded-For entries the client wrote', async () => {
    // A proxy appends the address it saw to whatever X-Forwarded-For the client
    // sent: the left-most entry is the client's to choose. Keyed by it, one
    // client was a new "IP" per request, so the miss limit (and the per-IP click
    // budget) bounded nothing and the limiter's memory grew with every guess.
    const fresh = await env.api({ config: { ...env.config, LINK_MISSES_PER_IP_PER_MIN: 3, TRUST_PROXY: parseConfig({ ...process.env, TRUST_PROXY: 'true' }).TRUST_PROXY } });
    const tampered = 'A'.repeat(CODE_LENGTH);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await request(fresh.app).get(`/${tampered}`).set('X-Forwarded-For', `10.9.${i}.1, 203.0.113.7`).redirects(0)).status);
    }
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
    // Another client behind the same proxy has its own budget.
    expect((await request(fresh.app).get(`/${tampered}`).set('X-Forwarded-For', '203.0.113.8').redirects(0)).status).toBe(404);
  });

  it('numbers campaigns and flow versions from one sequence: a code names one of them, and each resolves to its own links', async () => {
    const shop = await createShop(env.db);
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'c', 'https://campaign.example/x', 'completed') RETURNING id, link_no`;
    const created = await request(app)
      .post('/api/flows')
      .set('Authorization', await auth(shop))
      .send({ name: 'f', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'https://flow.example/y' }] });
    expect(created.status).toBe(201);
    const [v] = await env.db.$queryRaw<{ link_no: bigint }[]>`SELECT link_no FROM flow_versions WHERE id = ${created.body.currentVersion.id}::uuid`;
    expect(v!.link_no).toBeGreaterThan(c!.link_no);
    const [clash] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM campaigns c JOIN flow_versions v ON v.link_no = c.link_no`;
    expect(Number(clash!.n)).toBe(0);
    // The same recipient part and index under each number: each goes to its own link, with its own utm_campaign.
    const viaCampaign = await request(app).get(`/${linkCode(links.signingKey, Number(c!.link_no), 32, 0)}`).set('User-Agent', IPHONE).redirects(0);
    expect(viaCampaign.headers.location).toBe(`https://campaign.example/x?utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${c!.id}`);
    const viaFlow = await request(app).get(`/${linkCode(links.signingKey, Number(v!.link_no), 32, 0)}`).set('User-Agent', IPHONE).redirects(0);
    expect(viaFlow.headers.location).toBe(`https://flow.example/y?utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${created.body.id}`);
    // Neither names a recipient or message that exists: redirected, nothing recorded.
    await clickBufferOf(app).flush();
    const [n] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM link_clicks WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(n!.n)).toBe(0);
  });

  it('attributes an order that arrived before its click was flushed, once', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123499' });
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Late', 'Sale https://late.example/x', 'completed') RETURNING id, link_no`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0) RETURNING id`;
    const code = linkCode(links.signingKey, Number(c!.link_no), Number(r!.id), 0);

    // The click was answered before the order was placed, but its flush comes after the order was processed.
    const clickedAt = new Date();
    const placed = order({ phone: contact.phone, createdAt: new Date(clickedAt.getTime() + 1_000) });
    await deliverOrder(shop, placed);
    expect(await attributionOf(shop.id, placed.id)).toBeUndefined();
    const late = { id: randomUUID(), campaignId: c!.id, recipientId: Number(r!.id), linkIndex: 0, clickedAt, uaClass: 'ios' as const, bot: false };
    expect((await recordClicks(env.db, [late])).attributed).toHaveLength(1);
    expect(await attributionOf(shop.id, placed.id)).toEqual({ campaign_id: c!.id, kind: 'click' });
    // Another human click later changes nothing: attributed once.
    expect((await request(app).get(`/${code}`).set('User-Agent', IPHONE).redirects(0)).status).toBe(302);
    await clickBufferOf(app).flush();
    const rows = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM order_attributions WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(rows[0]!.n)).toBe(1);

    // Erasing the contact unlinks its clicks and attributions; the campaign keeps its counts.
    expect((await request(app).delete(`/api/contacts/${contact.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', rid('k'))).status).toBe(204);
    const linked = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT (SELECT count(*) FROM link_clicks WHERE contact_id = ${contact.id}::uuid) + (SELECT count(*) FROM order_attributions WHERE contact_id = ${contact.id}::uuid) AS n`;
    expect(Number(linked[0]!.n)).toBe(0);
    const stats = await request(app).get(`/api/campaigns/${c!.id}/stats`).set('Authorization', await auth(shop));
    expect(stats.body).toMatchObject({ clicks: 2, uniqueClicks: 1, attributedOrders: 1 });
  });

  it('still redirects a short link whose recipient was pruned, records no click for it, and keeps the frozen counts', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123477' });
    const days = env.config.RECIPIENT_RETENTION_DAYS + 5;
    const long = (d: number): Date => new Date(Date.now() - d * 86_400_000);
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status, started_at, completed_at, last_activity_at)
      VALUES (${shop.id}::uuid, 'Old', 'Sale https://old.example/x?y=1', 'completed', ${long(days + 1)}, ${long(days)}, ${long(days)}) RETURNING id, link_no`;
    await env.db.$executeRaw`
      INSERT INTO campaign_batches (campaign_id, batch_no, status, recipient_count, sent) VALUES (${c!.id}::uuid, 0, 'done', 1, 1)`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, attempt, segments, provider_message_id, sent_at, final_at)
      VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0, 'delivered', 1, 1, 'old-1', ${long(days + 1)}, ${long(days + 1)}) RETURNING id`;
    const path = `/${linkCode(links.signingKey, Number(c!.link_no), Number(r!.id), 0)}`;
    const statsOf = async () => (await request(app).get(`/api/campaigns/${c!.id}/stats`).set('Authorization', await auth(shop))).body as Record<string, unknown>;

    // One click while the row exists, then the rows go.
    expect((await request(app).get(path).set('User-Agent', IPHONE).redirects(0)).status).toBe(302);
    await clickBufferOf(app).flush();
    const before = await statsOf();
    expect(before).toMatchObject({ delivered: 1, clicks: 1, uniqueClicks: 1 });
    const pruned = await pruneCampaignRecipients(webhooks, c!.id, { now: new Date(), retentionDays: env.config.RECIPIENT_RETENTION_DAYS });
    expect(pruned).toMatchObject({ outcome: 'pruned', deleted: 1 });

    // The old link still takes the customer to the page, with its UTM parameters; the click names a row that is gone, so nothing is written.
    const res = await request(app).get(path).set('User-Agent', IPHONE).redirects(0);
    expect(res.status).toBe(302);
    expect(new URL(res.headers.location as string)).toMatchObject({ host: 'old.example', pathname: '/x' });
    expect(new URL(res.headers.location as string).searchParams.get('utm_source')).toBe('sms');
    await clickBufferOf(app).flush();
    const clicks = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM link_clicks WHERE campaign_id = ${c!.id}::uuid`;
    expect(Number(clicks[0]!.n)).toBe(1);
    expect(await statsOf()).toEqual(before);
  });

  it('attributes an order known only from the customer summary, and lets the real orders/create replace it', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123488', consent: 'subscribed' });
    const customerId = String(Date.now());
    // A customer whose one earlier order we counted (Shopify's figures: 1 order, 20.00 USD).
    await env.db.$executeRaw`
      UPDATE contacts SET shopify_customer_id = ${customerId}, shopify_orders_count = 1, shopify_amount_spent_minor = 2000, amount_spent_currency = 'USD'
       WHERE id = ${contact.id}::uuid`;
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Summary', 'Sale https://summary.example/x', 'completed') RETURNING id, link_no`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0) RETURNING id`;
    expect((await request(app).get(`/${linkCode(links.signingKey, Number(c!.link_no), Number(r!.id), 0)}`).set('User-Agent', IPHONE).redirects(0)).status).toBe(302);
    await clickBufferOf(app).flush();

    // customers/update says 2 orders, 55.00 spent, and no orders/create came: one order of 35.00, provisionally the campaign's.
    const customer = (count: number, spent: string) => ({
      id: Number(customerId), email: null, first_name: 'Sam', last_name: null, phone: contact.phone, updated_at: new Date(Date.now() + 1_000).toISOString(),
      orders_count: count, total_spent: spent, currency: 'USD', sms_marketing_consent: { state: 'subscribed', phone: contact.phone },
    });
    const deliverCustomer = async (body: Record<string, unknown>) => {
      const webhookId = rid('wh');
      expect((await postShopify(app, 'customers/update', body, { shopDomain: shop.domain, webhookId })).status).toBe(200);
      await waitFor('customer processed', async () => ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
    };
    await deliverCustomer(customer(2, '55.00'));
    const provisional = await env.db.$queryRaw<{ order_id: string; source: string; kind: string; total_minor: bigint; campaign_id: string }[]>`
      SELECT order_id, source, kind, total_minor, campaign_id FROM order_attributions WHERE shop_id = ${shop.id}::uuid`;
    expect(provisional).toEqual([{ order_id: `summary:${customerId}:2`, source: 'summary', kind: 'click', total_minor: 3500n, campaign_id: c!.id }]);
    // The same update again changes nothing.
    await deliverCustomer({ ...customer(2, '55.00'), updated_at: new Date(Date.now() + 2_000).toISOString() });
    expect(await env.db.$queryRaw`SELECT order_id FROM order_attributions WHERE shop_id = ${shop.id}::uuid`).toHaveLength(1);

    // The order itself arrives: it replaces the provisional one, counted once.
    const real = { ...order({ phone: contact.phone, total: '35.00', createdAt: new Date(Date.now() + 500) }), customer: { id: Number(customerId), phone: contact.phone } };
    await deliverOrder(shop, real);
    const after = await env.db.$queryRaw<{ order_id: string; source: string; kind: string }[]>`
      SELECT order_id, source, kind FROM order_attributions WHERE shop_id = ${shop.id}::uuid`;
    expect(after).toEqual([{ order_id: String(real.id), source: 'order', kind: 'click' }]);
  });

  it('picks the right campaign among several: the last human click wins over older clicks and a later delivery; else the last message actually delivered', async () => {
    const shop = await createShop(env.db);
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
    const campaign = async (name: string) =>
      (await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, ${name}, 'Sale https://pick.example/x', 'completed') RETURNING id`)[0]!.id;
    const [a, b, c] = [await campaign('A'), await campaign('B'), await campaign('C')];
    const recipient = async (campaignId: string, contactId: string, status: 'delivered' | 'failed', sentAt: Date) =>
      Number(
        (await env.db.$queryRaw<{ id: bigint }[]>`
          INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
          VALUES (${campaignId}::uuid, ${contactId}::uuid, 0, ${status}, ${status === 'delivered' ? rid('sim') : null}, ${status === 'delivered' ? 1 : null}, ${sentAt}, ${sentAt})
          RETURNING id`)[0]!.id,
      );
    const click = (campaignId: string, recipientId: number, clickedAt: Date, bot = false) => ({
      id: randomUUID(), campaignId, recipientId, linkIndex: 0, clickedAt, uaClass: bot ? ('preview' as const) : ('ios' as const), bot,
    });

    // Clicked A three hours ago and B two hours ago; C was delivered ten minutes ago and only previewed by a bot since.
    const clicker = await createContact(env.db, shop.id, { phone: '+447911123477' });
    const ra = await recipient(a, clicker.id, 'delivered', hoursAgo(4));
    const rb = await recipient(b, clicker.id, 'delivered', hoursAgo(3));
    const rc = await recipient(c, clicker.id, 'delivered', hoursAgo(1 / 6));
    await recordClicks(env.db, [click(a, ra, hoursAgo(3)), click(b, rb, hoursAgo(2)), click(c, rc, hoursAgo(1 / 12), true)]);
    const clicked = order({ phone: clicker.phone });
    await deliverOrder(shop, clicked);
    expect(await attributionOf(shop.id, clicked.id)).toEqual({ campaign_id: b, kind: 'click' });

    // No click: the latest message that reached the phone (A), not C's more recent one that failed.
    const viewer = await createContact(env.db, shop.id, { phone: '+447911123466' });
    await recipient(a, viewer.id, 'delivered', hoursAgo(3));
    await recipient(c, viewer.id, 'failed', hoursAgo(1));
    const viewed = order({ phone: viewer.phone });
    await deliverOrder(shop, viewed);
    expect(await attributionOf(shop.id, viewed.id)).toEqual({ campaign_id: a, kind: 'view' });

    // A human click older than the click window (5 days) and a delivery older than the view window (24 h): nothing.
    const stale = await createContact(env.db, shop.id, { phone: '+447911123455' });
    const rs = await recipient(b, stale.id, 'delivered', hoursAgo(6 * 24));
    await recordClicks(env.db, [click(b, rs, hoursAgo(5 * 24 + 1))]);
    const late = order({ phone: stale.phone });
    await deliverOrder(shop, late);
    expect(await attributionOf(shop.id, late.id)).toBeUndefined();

    const stats = async (id: string) => (await request(app).get(`/api/campaigns/${id}/stats`).set('Authorization', await auth(shop))).body as { attributedOrders: number };
    expect([(await stats(a)).attributedOrders, (await stats(b)).attributedOrders, (await stats(c)).attributedOrders]).toEqual([1, 1, 0]);
  });

  async function linkNoOf(campaignId: string): Promise<number> {
    const [row] = await env.db.$queryRaw<{ link_no: bigint }[]>`SELECT link_no FROM campaigns WHERE id = ${campaignId}::uuid`;
    return Number(row!.link_no);
  }
});
