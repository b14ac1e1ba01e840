import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { simulatorProvider, startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { postShopify, postSimulator, rid, webhookEvent } from '../webhooks';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { executeFlowStep } from '../../domain/flows/execute-flow-step';
import { stepsSchema } from '../../domain/flows/flow-input';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import { applyDeliveryReports } from '../../domain/webhooks/apply-delivery-reports';
import { createMetrics } from '../../lib/metrics';

// GET /api/flows/:id/stats (issue 17, item 4): runs started, in progress,
// completed, exited by reason; messages sent, delivered, failed, skipped by
// reason, credits spent — per flow and per step, for the shop's own flows.

describe('flow stats', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;
  let simUrl: string;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ sim, url: simUrl } = await startSimulator());
    // Shopify orders/create is processed by the webhooks queue (attribution).
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await sim.stop();
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body);
  const stats = async (shop: ShopFixture, flowId: string) => request(app).get(`/api/flows/${flowId}/stats`).set('Authorization', await auth(shop));

  async function liveFlow(shop: ShopFixture, steps: object[]): Promise<{ id: string; versionId: string }> {
    const created = await post(shop, '/api/flows', { name: 'Welcome', trigger: { type: 'order_created' }, steps });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id };
  }

  const steps = [
    { type: 'send', body: 'Welcome to {{shopName}}!' },
    { type: 'wait', duration: { amount: 1, unit: 'days' } },
    { type: 'send', body: 'Day two' },
  ];

  it('counts runs by status, step and exit reason, and messages by status, skip reason and credits, per flow and per step', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, steps);
    const contact = await createContact(env.db, shop.id);
    const now = new Date();
    const seed = async (n: number, o: { status?: string; exitReason?: string; step: number }) => {
      const rows = await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, exit_reason, current_step, next_due_at, ended_at)
        SELECT ${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'order_created', gen_random_uuid()::text, ${now},
               ${o.status ?? 'active'}, ${o.exitReason ?? null}, ${o.step},
               CASE WHEN ${o.status ?? 'active'} = 'active' THEN ${now}::timestamptz END, CASE WHEN ${o.status ?? 'active'} <> 'active' THEN ${now}::timestamptz END
          FROM generate_series(1, ${n}::int)
        RETURNING id::text`;
      return rows.map((r) => r.id);
    };
    const atFirst = await seed(5, { step: 0 });
    const atThird = await seed(2, { step: 2 });
    const completed = await seed(3, { status: 'completed', step: 3 });
    const ordered = await seed(2, { status: 'exited', exitReason: 'order_placed', step: 1 });
    const stopped = await seed(1, { status: 'exited', exitReason: 'opted_out', step: 2 });

    const message = (runId: string, step: number, status: string, o: { skip?: string; segments?: number; credits?: number } = {}) => {
      const went = ['sent', 'delivered', 'undelivered'].includes(status);
      return env.db.$executeRaw`
        INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, skip_reason, segments, credits, provider_message_id, sent_at, delivered_at, final_at)
        VALUES (${runId}::bigint, ${step}, ${shop.id}::uuid, ${flow.id}::uuid, ${flow.versionId}::uuid, ${contact.id}::uuid, ${status}, ${o.skip ?? null},
                ${went ? (o.segments ?? 1) : null}, ${o.credits ?? 0}, ${went ? `pm-${randomUUID()}` : null}, ${went ? now : null},
                ${status === 'delivered' ? now : null}, ${['sending', 'sent'].includes(status) ? null : now})`;
    };
    // Step 0: every run past it sent one, or did not.
    const pastFirst = [...atThird, ...completed, ...ordered, ...stopped];
    await message(pastFirst[0]!, 0, 'delivered', { segments: 2, credits: 2 });
    await message(pastFirst[1]!, 0, 'delivered', { segments: 2, credits: 2 });
    await message(pastFirst[2]!, 0, 'delivered', { segments: 2, credits: 2 });
    await message(pastFirst[3]!, 0, 'undelivered', { credits: 1 });
    await message(pastFirst[4]!, 0, 'failed');
    await message(pastFirst[5]!, 0, 'skipped', { skip: 'frequency_cap' });
    await message(pastFirst[6]!, 0, 'unknown');
    await message(atFirst[0]!, 0, 'sending');
    // Step 2.
    await message(completed[0]!, 2, 'sent', { credits: 1 });
    await message(completed[1]!, 2, 'skipped', { skip: 'suppressed' });
    await message(completed[2]!, 2, 'skipped', { skip: 'frequency_cap' });

    const res = await stats(shop, flow.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      flowId: flow.id,
      runs: { started: 13, active: 7, completed: 3, exited: 3, exitedByReason: { order_placed: 2, opted_out: 1 } },
      messages: { sent: 5, delivered: 3, undelivered: 1, failed: 1, unknown: 1, sending: 1, skipped: 3, skippedByReason: { frequency_cap: 2, suppressed: 1 }, creditsSpent: 8 },
      clicks: 0, uniqueClicks: 0, botClicks: 0, attributedOrders: 0, attributedRevenue: [], clickAttributedOrders: 0, clickAttributedRevenue: [],
      steps: [
        {
          index: 0, type: 'send',
          runs: { active: 5, exited: 0, exitedByReason: {} },
          messages: { sent: 4, delivered: 3, undelivered: 1, failed: 1, unknown: 1, sending: 1, skipped: 1, skippedByReason: { frequency_cap: 1 }, creditsSpent: 7 },
          clicks: 0, uniqueClicks: 0, botClicks: 0, attributedOrders: 0, attributedRevenue: [], clickAttributedOrders: 0, clickAttributedRevenue: [],
        },
        {
          index: 1, type: 'wait',
          runs: { active: 0, exited: 2, exitedByReason: { order_placed: 2 } },
          messages: { sent: 0, delivered: 0, undelivered: 0, failed: 0, unknown: 0, sending: 0, skipped: 0, skippedByReason: {}, creditsSpent: 0 },
          clicks: 0, uniqueClicks: 0, botClicks: 0, attributedOrders: 0, attributedRevenue: [], clickAttributedOrders: 0, clickAttributedRevenue: [],
        },
        {
          index: 2, type: 'send',
          runs: { active: 2, exited: 1, exitedByReason: { opted_out: 1 } },
          messages: { sent: 1, delivered: 0, undelivered: 0, failed: 0, unknown: 0, sending: 0, skipped: 2, skippedByReason: { frequency_cap: 1, suppressed: 1 }, creditsSpent: 1 },
          clicks: 0, uniqueClicks: 0, botClicks: 0, attributedOrders: 0, attributedRevenue: [], clickAttributedOrders: 0, clickAttributedRevenue: [],
        },
      ],
    });
  });

  it("is the shop's own: another shop's flow and an unknown or malformed id are NOT_FOUND; a new flow has zeros", async () => {
    const shop = await createShop(env.db);
    const other = await createShop(env.db);
    const flow = await liveFlow(shop, steps);
    const mine = await stats(shop, flow.id);
    expect(mine.status).toBe(200);
    expect(mine.body.runs).toEqual({ started: 0, active: 0, completed: 0, exited: 0, exitedByReason: {} });
    expect(mine.body.steps.map((s: { type: string }) => s.type)).toEqual(['send', 'wait', 'send']);
    const theirs = await stats(other, flow.id);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('NOT_FOUND');
    expect((await stats(shop, randomUUID())).status).toBe(404);
    expect((await stats(shop, 'nope')).status).toBe(404); // not an id: not found, as for every :id route
    expect((await request(app).get(`/api/flows/${flow.id}/stats`)).status).toBe(401);
  });

  it('reads what the send step and the delivery reports wrote: sent, delivered, credits = segments, completed runs and an opt-out exit', async () => {
    const shop = await createShop(env.db, { credits: 100 });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false, name = 'Acme' WHERE id = ${shop.id}::uuid`;
    const flow = await liveFlow(shop, steps);
    const a = await createContact(env.db, shop.id);
    const b = await createContact(env.db, shop.id);
    // 16:00 UTC: daytime for the test numbers' zone (quiet hours off anyway).
    const t0 = new Date(Date.UTC(2026, 11, 3, 16));
    const runs = await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id, triggerType: 'order_created', shopTimezone: 'UTC', traceId: 'test', requireLive: true,
        flows: [{ id: flow.id, versionId: flow.versionId, steps: stepsSchema.parse(steps) }],
        candidates: [a, b].map((c) => ({ contactId: c.id, subject: `o-${randomUUID()}`, triggeredAt: t0, baseAt: t0, phone: null, timezone: null })),
      }),
    );
    expect(runs).toHaveLength(2);
    const send = { provider: simulatorProvider(simUrl), phoneHashKey: env.config.PHONE_HASH_KEY, leaseMs: 60_000, quietHoursFloor: false, metrics: createMetrics() };
    const tick = async (now: Date) => {
      const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
      for (const id of claim.runIds) await executeFlowStep(env.db, { runId: id, claimToken: claim.claimToken, now, send });
    };
    await tick(t0); // both: first message
    await tick(t0); // both: the day's wait
    // b texts STOP before day two: its run ends (opted_out) at step 2.
    await env.db.$executeRaw`UPDATE contacts SET sms_consent = 'unsubscribed', opted_out_at = now(), opt_out_source = 'keyword' WHERE id = ${b.id}::uuid`;
    await tick(new Date(t0.getTime() + 24 * 3_600_000));

    const sent = await env.db.$queryRaw<{ id: string; provider_message_id: string; segments: number }[]>`
      SELECT id::text, provider_message_id, segments FROM flow_messages WHERE flow_id = ${flow.id}::uuid ORDER BY id`;
    expect(sent).toHaveLength(3);
    // The first message to a is delivered (through the signed report path).
    const first = sent[0]!;
    expect((await postSimulator(app, 'status', { id: first.provider_message_id, status: 'delivered', timestamp: new Date().toISOString(), reference: `f${first.id}` })).status).toBeLessThan(300);
    await waitFor('report applied', async () => {
      await applyDeliveryReports(env.db, { limit: 100 });
      const [m] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM flow_messages WHERE id = ${first.id}::bigint`;
      return m!.status === 'delivered';
    });

    const res = await stats(shop, flow.id);
    expect(res.status).toBe(200);
    const segments = sent.reduce((s, m) => s + m.segments, 0);
    expect(res.body.runs).toEqual({ started: 2, active: 0, completed: 1, exited: 1, exitedByReason: { opted_out: 1 } });
    expect(res.body.messages).toMatchObject({ sent: 3, delivered: 1, failed: 0, skipped: 0, creditsSpent: segments });
    expect(res.body.steps.map((s: { messages: { sent: number } }) => s.messages.sent)).toEqual([2, 0, 1]);
    expect(res.body.steps[2].runs).toEqual({ active: 0, exited: 1, exitedByReason: { opted_out: 1 } });
    // Credits spent = what the ledger debited for this flow's messages.
    const [ledger] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT -sum(amount) AS n FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND type = 'debit' AND reference = ${`flow:${flow.id}`}`;
    expect(Number(ledger!.n)).toBe(segments);
  });

  it('attributes an order to the flow message delivered last (view window), once; a campaign delivered later wins; none outside the window; stats count it per step', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, steps);
    const contact = await createContact(env.db, shop.id);
    const t0 = new Date(Date.now() - 6 * 3_600_000);
    const hour = 3_600_000;
    const [run] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at)
      VALUES (${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'order_created', ${randomUUID()}, ${t0}, 2, ${t0})
      RETURNING id::text`;
    const [m] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, segments, credits, provider_message_id, sent_at, delivered_at, final_at)
      VALUES (${run!.id}::bigint, 0, ${shop.id}::uuid, ${flow.id}::uuid, ${flow.versionId}::uuid, ${contact.id}::uuid, 'delivered', 1, 1, ${`pm-${randomUUID()}`}, ${t0}, ${t0}, ${t0})
      RETURNING id::text`;

    let seq = 0;
    const orderAt = async (at: Date, total: string): Promise<string> => {
      const id = Date.now() * 1000 + seq++;
      const body = {
        id, created_at: at.toISOString(), total_price: total, currency: 'EUR', customer: { id: id + 500, phone: contact.phone }, phone: contact.phone,
        landing_site: null, referring_site: null, source_name: 'web', discount_codes: [], line_items: [],
      };
      // Delivered twice (a retry with the same webhook id and a duplicate with a new one): attributed once.
      for (const webhookId of [rid('wh'), rid('wh')]) {
        expect((await postShopify(app, 'orders/create', body, { shopDomain: shop.domain, webhookId })).status).toBe(200);
        await waitFor('order processed', async () => ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
      }
      return String(id);
    };
    const attribution = async (orderId: string) =>
      (await env.db.$queryRaw<{ campaign_id: string | null; flow_id: string | null; flow_message_id: string | null; kind: string }[]>`
        SELECT campaign_id, flow_id, flow_message_id::text, kind FROM order_attributions WHERE shop_id = ${shop.id}::uuid AND order_id = ${orderId}`)[0];

    // 1. Only the flow message was delivered (an hour before): the order is the flow's, a view of step 0's message.
    const first = await orderAt(new Date(t0.getTime() + hour), '30.00');
    expect(await attribution(first)).toEqual({ campaign_id: null, flow_id: flow.id, flow_message_id: m!.id, kind: 'view' });

    // 2. A campaign delivered after the flow message: the next order is the campaign's.
    const [c] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Sale', 'Sale today', 'completed') RETURNING id`;
    await env.db.$executeRaw`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
      VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0, 'delivered', ${`pm-${randomUUID()}`}, 1, ${new Date(t0.getTime() + 2 * hour)})`;
    const second = await orderAt(new Date(t0.getTime() + 3 * hour), '20.00');
    expect(await attribution(second)).toMatchObject({ campaign_id: c!.id, flow_id: null, kind: 'view' });

    // 3. Outside the view window (24 h) of every message: nobody's.
    const third = await orderAt(new Date(t0.getTime() + 30 * hour), '10.00');
    expect(await attribution(third)).toBeUndefined();

    const res = await stats(shop, flow.id);
    expect(res.status).toBe(200);
    // A view: in all attributed orders, none by click.
    expect(res.body).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'EUR', orders: 1, amount: '30.00' }], clickAttributedOrders: 0, clickAttributedRevenue: [] });
    expect(res.body.steps.map((st: { attributedOrders: number }) => st.attributedOrders)).toEqual([1, 0, 0]);
    // The campaign's own stats do not see the flow's order.
    const [campaignOrders] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM order_attributions WHERE campaign_id = ${c!.id}::uuid`;
    expect(campaignOrders!.n).toBe(1);
  });
});
