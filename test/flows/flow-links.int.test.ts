import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { simulatorProvider, startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { counterValue, postShopify, rid, webhookEvent } from '../webhooks';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { clickBufferOf } from '../../apps/api/src/links/short-links';
import type { ApiDeps } from '../../apps/api/src/deps';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { executeFlowStep } from '../../domain/flows/execute-flow-step';
import { stepsSchema } from '../../domain/flows/flow-input';
import type { FlowSendDeps } from '../../domain/flows/send-flow-message';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import { CODE_LENGTH, flowShortLink, linkCode, flowRecipientPart, trackedLinksOf, type TrackedLinks } from '../../domain/links/link-code';
import { recordClicks } from '../../domain/links/record-clicks';
import type { OutboundMessage } from '../../domain/messaging/providers/provider';
import { countSegments } from '../../domain/messaging/segments';
import { recordingProvider } from './send-kit';

// Tracked short links in flow messages (issue 17 item 4 with issue 16 item 1):
// a send step's links go out as the message's own short links (counted in
// its segments, as the preview counts them); a click redirects with UTM
// parameters and is recorded once through the api's click buffer (a preview
// redirected, never counted); an order after the click is the flow message's,
// by click, once; a tampered code is 404; a code never records a click for
// another shop's message; the flow's stats count the clicks per step.

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const IMESSAGE_PREVIEW = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0';
const BODY = 'Sale: https://shop.example.com/sale?ref=x#top and FAQ {{link:https://shop.example.com/faq}}.';

interface FlowRef {
  id: string;
  versionId: string;
  linkNo: number;
}

describe('flow message short links and clicks', () => {
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let sim: SimulatorHandle;
  let simUrl: string;
  let links: TrackedLinks;
  let webhooks: Awaited<ReturnType<TestEnv['worker']>>['deps'];
  const sent: OutboundMessage[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps: api } = await env.api());
    ({ deps: webhooks } = await env.worker({ queues: ['webhooks'] }));
    ({ sim, url: simUrl } = await startSimulator({ dedupsByReference: false }));
    links = trackedLinksOf(env.config);
  });
  afterAll(async () => {
    await sim.stop();
    await env.close();
  });

  const sendDeps = (): FlowSendDeps => ({
    provider: recordingProvider(simulatorProvider(simUrl, { dedupsByReference: false }), sent),
    phoneHashKey: env.config.PHONE_HASH_KEY,
    leaseMs: 60_000,
    quietHoursFloor: true,
    links,
  });
  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const pathOf = (shortLink: string): string => new URL(shortLink).pathname;
  const shortLinkPattern = () => new RegExp(`${links.base.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/[0-9A-Za-z]{${CODE_LENGTH}}`, 'g');

  async function shopWithFlow(body: string): Promise<{ shop: ShopFixture; flow: FlowRef }> {
    const shop = await createShop(env.db, { credits: 1_000 });
    await env.db.$executeRaw`
      UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false, name = 'Acme' WHERE id = ${shop.id}::uuid`;
    const created = await request(app)
      .post('/api/flows')
      .set('Authorization', await auth(shop))
      .send({ name: 'Links', trigger: { type: 'order_created' }, steps: [{ type: 'send', body }] });
    expect(created.status).toBe(201);
    const live = await request(app).post(`/api/flows/${created.body.id}/activate`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({});
    expect(live.status).toBe(200);
    const versionId = created.body.currentVersion.id as string;
    const [v] = await env.db.$queryRaw<{ link_no: bigint }[]>`SELECT link_no FROM flow_versions WHERE id = ${versionId}::uuid`;
    return { shop, flow: { id: created.body.id, versionId, linkNo: Number(v!.link_no) } };
  }

  /** Starts a run of the flow for the contact and executes its send step (16:00 UTC: inside the US legal window). */
  async function sendTo(shop: ShopFixture, flow: FlowRef, contactId: string): Promise<{ messageId: string; text: string }> {
    const t0 = new Date(Date.UTC(2026, 11, 1, 16));
    const [version] = await env.db.$queryRaw<{ steps: unknown }[]>`SELECT steps FROM flow_versions WHERE id = ${flow.versionId}::uuid`;
    const runs = await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id, triggerType: 'order_created', shopTimezone: 'UTC', traceId: 'test', requireLive: true,
        flows: [{ id: flow.id, versionId: flow.versionId, steps: stepsSchema.parse(version!.steps) }],
        candidates: [{ contactId, subject: `o-${randomUUID()}`, triggeredAt: t0, baseAt: t0, phone: null, timezone: null }],
      }),
    );
    expect(runs).toHaveLength(1);
    const claim = await claimDueRuns(env.db, { now: t0, limit: 1000, leaseMs: 60_000 });
    expect(claim.runIds).toContain(runs[0]!.id);
    for (const id of claim.runIds) await executeFlowStep(env.db, { runId: id, claimToken: claim.claimToken, now: t0, send: sendDeps() });
    const [m] = await env.db.$queryRaw<{ id: bigint; status: string; segments: number }[]>`
      SELECT id, status, segments FROM flow_messages WHERE run_id = ${runs[0]!.id}::bigint`;
    expect(m?.status).toBe('sent');
    const out = sent.find((s) => s.reference === `f${m!.id}`);
    expect(out).toBeDefined();
    expect(m!.segments).toBe(countSegments(out!.text).segments);
    return { messageId: String(m!.id), text: out!.text };
  }

  let orderSeq = 1;
  function order(o: { phone: string; createdAt?: Date; total?: string }) {
    return {
      id: Date.now() * 1000 + orderSeq++,
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
    await waitFor('order processed', async () => ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
  }
  const attributionsOf = (shopId: string, orderId: number) =>
    env.db.$queryRaw<{ campaign_id: string | null; flow_id: string | null; flow_message_id: bigint | null; kind: string }[]>`
      SELECT campaign_id, flow_id, flow_message_id, kind FROM order_attributions WHERE shop_id = ${shopId}::uuid AND order_id = ${String(orderId)}`;

  it('sends short links counted in segments, redirects with UTM, records one click, attributes the order after it once, and counts it in the stats', async () => {
    const { shop, flow } = await shopWithFlow(BODY);
    const contact = await createContact(env.db, shop.id, { firstName: 'Alice' });

    // The editor's counter shows and counts the short links the send will put in.
    const preview = await request(app).post('/api/flows/preview').set('Authorization', await auth(shop)).send({ body: BODY });
    expect(preview.status).toBe(200);
    const sample = `${links.base}/${'x'.repeat(CODE_LENGTH)}`;
    expect(preview.body).toMatchObject({
      text: `Sale: ${sample} and FAQ ${sample}.\nReply STOP to opt out`,
      links: ['https://shop.example.com/sale?ref=x#top', 'https://shop.example.com/faq'],
      shortLinkLength: sample.length,
    });

    const { messageId, text } = await sendTo(shop, flow, contact.id);
    const found = text.match(shortLinkPattern()) ?? [];
    expect(found).toHaveLength(2);
    expect(text).not.toContain('shop.example.com');
    expect(text.length).toBe(preview.body.text.length);
    expect(countSegments(text).segments).toBe(preview.body.segments);
    // Deterministic: the version's number, the message and its step name the code (a re-send renders the same one).
    expect(found).toEqual([0, 1].map((i) => flowShortLink(links, flow.linkNo, Number(messageId), 0, i)));
    const [msg] = await env.db.$queryRaw<{ credits: number; segments: number }[]>`SELECT credits, segments FROM flow_messages WHERE id = ${messageId}::bigint`;
    expect(msg!.credits).toBe(msg!.segments);

    // A person twice and iMessage's preview: all redirected with the flow's UTM parameters, the fragment kept.
    const expected = `https://shop.example.com/sale?ref=x&utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${flow.id}#top`;
    for (const ua of [IPHONE, IMESSAGE_PREVIEW, IPHONE]) {
      const res = await request(app).get(pathOf(found[0]!)).set('User-Agent', ua).redirects(0);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe(expected);
    }
    const faq = await request(app).get(pathOf(found[1]!)).set('User-Agent', IPHONE).redirects(0);
    expect(faq.headers.location).toBe(`https://shop.example.com/faq?utm_source=sms&utm_medium=${env.config.LINK_UTM_MEDIUM}&utm_campaign=${flow.id}`);
    // A tampered code (one character of its tag) is not ours.
    const code = pathOf(found[0]!).slice(1);
    const tampered = code.slice(0, -1) + (code.endsWith('A') ? 'B' : 'A');
    const miss = await request(app).get(`/${tampered}`).set('User-Agent', IPHONE).redirects(0);
    expect(miss.status).toBe(404);
    expect(miss.headers.location).toBeUndefined();
    await clickBufferOf(app).flush();

    const clicks = await env.db.$queryRaw<
      { bot: boolean; first: boolean; ua_class: string; contact_id: string; shop_id: string; campaign_id: string | null; recipient_id: bigint | null; flow_id: string; flow_message_id: bigint; step: number; link_index: number }[]
    >`SELECT bot, first, ua_class, contact_id, shop_id, campaign_id, recipient_id, flow_id, flow_message_id, step, link_index
        FROM link_clicks WHERE flow_id = ${flow.id}::uuid ORDER BY clicked_at, id`;
    expect(clicks).toHaveLength(4);
    expect(clicks.filter((c) => c.bot).map((c) => c.ua_class)).toEqual(['preview']);
    expect(clicks.filter((c) => c.first).map((c) => c.bot)).toEqual([false]);
    for (const c of clicks) {
      expect(c).toMatchObject({ contact_id: contact.id, shop_id: shop.id, campaign_id: null, recipient_id: null, flow_message_id: BigInt(messageId), step: 0 });
    }
    expect(await counterValue(api.metrics, 'linkClicks', { kind: 'human' })).toBe(3);
    expect(await counterValue(api.metrics, 'linkClicks', { kind: 'bot' })).toBe(1);

    // Alice orders after her click: the flow message's, by click, once however often Shopify delivers it.
    const placed = order({ phone: contact.phone, total: '30.00' });
    await deliverOrder(shop, placed);
    await deliverOrder(shop, placed);
    expect(await attributionsOf(shop.id, placed.id)).toEqual([{ campaign_id: null, flow_id: flow.id, flow_message_id: BigInt(messageId), kind: 'click' }]);
    expect(await counterValue(webhooks.metrics, 'attributedOrders', { kind: 'click' })).toBe(1);

    // The stats: clicks and unique clicks for the flow and its step, the order by click.
    const stats = await request(app).get(`/api/flows/${flow.id}/stats`).set('Authorization', await auth(shop));
    expect(stats.status).toBe(200);
    const figures = {
      clicks: 3,
      uniqueClicks: 1,
      botClicks: 1,
      attributedOrders: 1,
      attributedRevenue: [{ currency: 'USD', orders: 1, amount: '30.00' }],
      clickAttributedOrders: 1,
      clickAttributedRevenue: [{ currency: 'USD', orders: 1, amount: '30.00' }],
    };
    expect(stats.body).toMatchObject(figures);
    expect(stats.body.steps[0]).toMatchObject({ index: 0, type: 'send', ...figures });
    expect(stats.body.messages).toMatchObject({ sent: 1 });
  });

  it('attributes an order placed before the click was flushed, by click, once', async () => {
    const { shop, flow } = await shopWithFlow('Back in stock https://late.example/x');
    const contact = await createContact(env.db, shop.id);
    const { messageId } = await sendTo(shop, flow, contact.id);

    // Answered before the order was placed; flushed after the order was processed (the message is only sent: no view).
    const clickedAt = new Date();
    const placed = order({ phone: contact.phone, createdAt: new Date(clickedAt.getTime() + 1_000) });
    await deliverOrder(shop, placed);
    expect(await attributionsOf(shop.id, placed.id)).toEqual([]);
    const late = { id: randomUUID(), campaignId: null, recipientId: Number(messageId), flow: { versionId: flow.versionId, step: 0 }, linkIndex: 0, clickedAt, uaClass: 'ios' as const, bot: false };
    const recorded = await recordClicks(env.db, [late]);
    expect(recorded).toMatchObject({ human: 1, attributed: [{ kind: 'click', campaignId: null, flowId: flow.id, currency: 'USD' }] });
    // The same flush again (a retry) records and attributes nothing more.
    expect(await recordClicks(env.db, [late])).toEqual({ human: 0, bot: 0, attributed: [] });
    expect(await attributionsOf(shop.id, placed.id)).toEqual([{ campaign_id: null, flow_id: flow.id, flow_message_id: BigInt(messageId), kind: 'click' }]);
  });

  it('a code never records a click for another shop, and the redirect of a code naming no message of its version records nothing', async () => {
    const a = await shopWithFlow('A: https://a.example/sale');
    const b = await shopWithFlow('B: https://b.example/sale');
    const aliceA = await createContact(env.db, a.shop.id);
    const bobB = await createContact(env.db, b.shop.id);
    const sentA = await sendTo(a.shop, a.flow, aliceA.id);
    const sentB = await sendTo(b.shop, b.flow, bobB.id);

    // Codes signed with the real key (as if it had leaked) pairing one shop's version with the other shop's message.
    const crossed = [
      linkCode(links.signingKey, a.flow.linkNo, flowRecipientPart(Number(sentB.messageId), 0), 0),
      linkCode(links.signingKey, b.flow.linkNo, flowRecipientPart(Number(sentA.messageId), 0), 0),
    ];
    for (const [code, host] of [[crossed[0]!, 'a.example'], [crossed[1]!, 'b.example']]) {
      // The version's link is a real one, so it redirects (to the version's own URL, never the other shop's) ...
      const res = await request(app).get(`/${code}`).set('User-Agent', IPHONE).redirects(0);
      expect(res.status).toBe(302);
      expect(new URL(res.headers.location as string).host).toBe(host);
    }
    // ... a step the version does not have is 404 ...
    const noStep = linkCode(links.signingKey, a.flow.linkNo, flowRecipientPart(Number(sentA.messageId), 3), 0);
    expect((await request(app).get(`/${noStep}`).set('User-Agent', IPHONE).redirects(0)).status).toBe(404);
    await clickBufferOf(app).flush();
    // ... and nothing is recorded for either shop: the message is not of the version the code named.
    const rows = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM link_clicks WHERE shop_id = ANY(${[a.shop.id, b.shop.id]}::uuid[])`;
    expect(Number(rows[0]!.n)).toBe(0);

    // Each shop's own code records for that shop only; neither can read the other's stats.
    for (const m of [sentA, sentB]) {
      const own = (m.text.match(shortLinkPattern()) ?? [])[0]!;
      expect((await request(app).get(pathOf(own)).set('User-Agent', IPHONE).redirects(0)).status).toBe(302);
    }
    await clickBufferOf(app).flush();
    const byShop = await env.db.$queryRaw<{ shop_id: string; flow_id: string; flow_message_id: bigint }[]>`
      SELECT shop_id, flow_id, flow_message_id FROM link_clicks WHERE shop_id = ANY(${[a.shop.id, b.shop.id]}::uuid[]) ORDER BY shop_id = ${a.shop.id}::uuid DESC`;
    expect(byShop).toEqual([
      { shop_id: a.shop.id, flow_id: a.flow.id, flow_message_id: BigInt(sentA.messageId) },
      { shop_id: b.shop.id, flow_id: b.flow.id, flow_message_id: BigInt(sentB.messageId) },
    ]);
    expect((await request(app).get(`/api/flows/${a.flow.id}/stats`).set('Authorization', await auth(b.shop))).status).toBe(404);
    const statsA = await request(app).get(`/api/flows/${a.flow.id}/stats`).set('Authorization', await auth(a.shop));
    expect(statsA.body).toMatchObject({ clicks: 1, uniqueClicks: 1 });
  });
});
