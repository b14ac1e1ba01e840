import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { sessionToken } from '../../test/session-token';
import type { OutboundMessage, SendResult, SmsProvider } from '../messaging/providers/provider';
import { markShopUninstalled } from '../shops/uninstall-shop';
import { claimDueRuns } from './claim-due-runs';
import { executeFlowSteps } from './execute-flow-steps';
import { stepsSchema } from './flow-input';
import type { FlowSendDeps } from './send-flow-message';
import { startFlowRuns } from './start-flow-runs';

// A claim's runs that go the one-message way (a body with links, a second run
// of the same contact) take a provider call each, one after the other. A
// pause or an uninstall committed during one of those calls must hold the
// rest of the claim at its step (docs/flows.md "Execution"), as it holds the
// batched sends, not only the runs of a job that begins after it.

describe('a flow paused or a shop uninstalled while a claim sends', () => {
  let env: TestEnv;
  let app: Awaited<ReturnType<TestEnv['api']>>['app'];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });
  beforeEach(async () => {
    // Each test claims every due run: none left over from the one before.
    await env.db.$executeRaw`UPDATE flow_runs SET status = 'exited', exit_reason = 'condition', next_due_at = NULL, ended_at = now(), claim_token = NULL, lease_until = NULL WHERE status = 'active'`;
  });

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  /** Accepts everything; runs `during` inside the first request (the merchant acting while the claim is being sent). */
  function provider(sent: OutboundMessage[], during: () => Promise<void>): SmsProvider {
    let first = true;
    return {
      name: 'fake',
      dedupsByReference: false,
      maxBatchSize: 100,
      sendBatch: async (messages): Promise<SendResult[]> => {
        sent.push(...messages);
        if (first) {
          first = false;
          await during();
        }
        return messages.map((m) => ({ reference: m.reference, outcome: 'accepted' as const, providerMessageId: `p-${randomUUID()}` }));
      },
    };
  }

  /** A live flow of one send step and a due run for each contact given (one contact twice: two runs). */
  async function scene(body: string, contacts: (shopId: string) => Promise<{ id: string }[]>): Promise<{ shop: ShopFixture; flowId: string; runIds: string[] }> {
    const shop = await createShop(env.db, { credits: 1_000 });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false WHERE id = ${shop.id}::uuid`;
    const steps = [{ type: 'send', body }];
    const created = await post(shop, '/api/flows', { name: 'Thanks', trigger: { type: 'order_created' }, steps });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    const at = new Date(Date.UTC(2026, 11, 1, 16));
    const runs = await env.db.$transaction(async (tx) =>
      startFlowRuns(tx, {
        shopId: shop.id,
        triggerType: 'order_created',
        shopTimezone: 'UTC',
        traceId: 'held-mid-claim',
        requireLive: true,
        flows: [{ id: created.body.id, versionId: created.body.currentVersion.id, steps: stepsSchema.parse(steps) }],
        candidates: (await contacts(shop.id)).map((c) => ({ contactId: c.id, subject: `o-${randomUUID()}`, triggeredAt: at, baseAt: at, phone: null, timezone: null })),
      }),
    );
    return { shop, flowId: created.body.id, runIds: runs.map((r) => r.id) };
  }

  /** One claim of every due run, executed as the flows.steps.v1 job executes it. */
  async function runClaim(p: SmsProvider, expected: number) {
    const now = new Date(Date.UTC(2026, 11, 1, 16, 5));
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    expect(claim.runIds).toHaveLength(expected);
    const send: FlowSendDeps = { provider: p, phoneHashKey: env.config.PHONE_HASH_KEY, leaseMs: 60_000, quietHoursFloor: false };
    return executeFlowSteps(env.db, { runIds: claim.runIds, claimToken: claim.claimToken, now: () => now, send });
  }

  /** The runs still at step 0, active and unclaimed (held), and the messages written for them. */
  async function heldRuns(runIds: string[]): Promise<{ held: number; messages: number }> {
    const [r] = await env.db.$queryRaw<{ held: number; messages: number }[]>`
      SELECT (SELECT count(*)::int FROM flow_runs WHERE id = ANY(${runIds}::bigint[]) AND status = 'active' AND current_step = 0 AND claim_token IS NULL) AS held,
             (SELECT count(*)::int FROM flow_messages WHERE run_id = ANY(${runIds}::bigint[])) AS messages`;
    return r!;
  }

  const linked = 'Thanks {{firstName}}! Shop again: https://acme.example/sale';
  const three = async (shopId: string) => [await createContact(env.db, shopId), await createContact(env.db, shopId), await createContact(env.db, shopId)];

  it('a pause committed during the first of a claim’s one-at-a-time sends holds the rest of the claim at its step', async () => {
    const { shop, flowId, runIds } = await scene(linked, three);
    const sent: OutboundMessage[] = [];
    const outcomes = await runClaim(
      provider(sent, async () => {
        const res = await post(shop, `/api/flows/${flowId}/pause`);
        expect(res.body.status).toBe('paused');
      }),
      3,
    );
    // The message already at the provider when the pause committed goes; the other two do not.
    expect(sent).toHaveLength(1);
    expect([...outcomes.values()].map((o) => o.kind).sort()).toEqual(['completed', 'held', 'held']);
    expect(await heldRuns(runIds)).toEqual({ held: 2, messages: 1 });

    // Activated again, the held runs send from where they were.
    expect((await post(shop, `/api/flows/${flowId}/activate`)).status).toBe(200);
    const later: OutboundMessage[] = [];
    await runClaim(provider(later, async () => {}), 2);
    expect(later).toHaveLength(2);
  });

  it('an uninstall committed during the first of a claim’s one-at-a-time sends sends nothing more for the shop', async () => {
    const { shop, runIds } = await scene(linked, three);
    const sent: OutboundMessage[] = [];
    const outcomes = await runClaim(
      provider(sent, async () => {
        await markShopUninstalled(env.db, shop.id, new Date());
      }),
      3,
    );
    expect(sent).toHaveLength(1);
    expect([...outcomes.values()].filter((o) => o.kind === 'held')).toHaveLength(2);
    expect(await heldRuns(runIds)).toEqual({ held: 2, messages: 1 });
  });

  it('a pause committed during the batched send holds the second run of the same contact, sent after it on its own', async () => {
    // Two runs of one contact: the first goes in the claim's batch, the second (one slot upsert per contact a statement) on its own after it.
    const { shop, flowId, runIds } = await scene('Welcome {{firstName}}!', async (shopId) => {
      const c = await createContact(env.db, shopId);
      return [c, c];
    });
    const sent: OutboundMessage[] = [];
    const outcomes = await runClaim(
      provider(sent, async () => {
        expect((await post(shop, `/api/flows/${flowId}/pause`)).body.status).toBe('paused');
      }),
      2,
    );
    expect(sent).toHaveLength(1);
    expect([...outcomes.values()].map((o) => o.kind).sort()).toEqual(['completed', 'held']);
    expect(await heldRuns(runIds)).toEqual({ held: 1, messages: 1 });
  });
});
