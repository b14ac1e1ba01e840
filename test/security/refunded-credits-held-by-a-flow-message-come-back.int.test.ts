import type { Express } from 'express';
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { executeFlowSteps } from '../../domain/flows/execute-flow-steps';
import type { StepOutcome } from '../../domain/flows/execute-flow-step';
import { stepsSchema } from '../../domain/flows/flow-input';
import type { FlowSendDeps } from '../../domain/flows/send-flow-message';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import { reserveCredits } from '../../domain/credits/reservations';
import { ProviderUnavailableError, type OutboundMessage, type SendResult, type SmsProvider } from '../../domain/messaging/providers/provider';
import { findLedgerMismatches } from '../../domain/reconciliation/ledger-check';
import { createContact, createShop, grantCredits, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { chargeObject, disputeObject, postStripe, rid, sessionObject, stripeEvent, stripeEventSettled, wallet } from '../webhooks';

// The attack, through a flow instead of a campaign: a flow message holds its
// credits while the provider call is in flight (docs/credits.md "Flow
// messages"). A refund arriving then takes only what no reservation holds, so
// the held credits are the purchase's `refund_shortfall`. When the message is
// then not charged (the provider refused it, or was down and the step is
// tried later), its hold closed and gave the refunded credits back to spend:
// the merchant kept credits they had been refunded. A closed flow hold now
// pays what is owed first, as a campaign's released reservation does.

describe('refunded credits held by a flow message', () => {
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
  beforeEach(async () => {
    await env.db.$executeRaw`UPDATE flow_runs SET status = 'exited', exit_reason = 'condition', next_due_at = NULL, ended_at = now(), claim_token = NULL, lease_until = NULL WHERE status = 'active'`;
  });

  const at = new Date(Date.UTC(2026, 11, 1, 16));
  const now = new Date(at.getTime() + 60_000);
  const plain = 'Welcome {{firstName}}!';
  // A link makes each message go on its own (its short-link code needs the message's id).
  const linked = 'Welcome {{firstName}}! https://acme.example/sale';

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  /** A shop that bought a 3-credit pack through Stripe, and a live one-step flow with one run due (a one-segment message). */
  async function scene(body: string): Promise<{ shop: ShopFixture; sessionId: string; paymentIntent: string }> {
    const shop = await createShop(env.db, { credits: 0, optOutFooter: false });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false WHERE id = ${shop.id}::uuid`;
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 3, 1000, 'usd')`;
    const paymentIntent = rid('pi');
    const paid = stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent, shopId: shop.id }));
    expect((await postStripe(app, paid)).status).toBe(200);
    expect(await stripeEventSettled(env.db, paid.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 3, reserved: 0 });

    const steps = [{ type: 'send', body }];
    const created = await post(shop, '/api/flows', { name: 'Welcome', trigger: { type: 'order_created' }, steps });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    const contact = await createContact(env.db, shop.id);
    await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id,
        triggerType: 'order_created',
        shopTimezone: 'UTC',
        traceId: 'flow-hold-refund',
        requireLive: true,
        flows: [{ id: created.body.id, versionId: created.body.currentVersion.id, steps: stepsSchema.parse(steps) }],
        candidates: [{ contactId: contact.id, subject: `o-${randomUUID()}`, triggeredAt: at, baseAt: at, phone: null, timezone: null }],
      }),
    );
    return { shop, sessionId, paymentIntent };
  }

  /** The provider: during its request the pack is refunded in full (or, with `event`, that happens; processed to the end), then it answers. */
  function refundedMidRequest(paymentIntent: string, answer: (m: OutboundMessage) => SendResult | Error, event?: Record<string, unknown>): SmsProvider {
    return {
      name: 'fake',
      dedupsByReference: false,
      maxBatchSize: 100,
      sendBatch: async (messages): Promise<SendResult[]> => {
        const refund = event ?? stripeEvent('charge.refunded', chargeObject(paymentIntent, { refunds: [rid('re')] }));
        expect((await postStripe(app, refund)).status).toBe(200);
        expect(await stripeEventSettled(env.db, refund.id as string)).toBe('processed');
        const answers = messages.map(answer);
        const failure = answers.find((a): a is Error => a instanceof Error);
        if (failure) throw failure;
        return answers as SendResult[];
      },
    };
  }

  async function sendOnce(provider: SmsProvider): Promise<string[]> {
    const c = await claimDueRuns(env.db, { now, limit: 1, leaseMs: 60_000 });
    expect(c.runIds).toHaveLength(1);
    const send: FlowSendDeps = { provider, phoneHashKey: env.config.PHONE_HASH_KEY, leaseMs: 60_000, quietHoursFloor: false };
    const out: Map<string, StepOutcome> = await executeFlowSteps(env.db, { runIds: c.runIds, claimToken: c.claimToken, now: () => now, send });
    return [...out.values()].map((o) => (o.kind === 'deferred' ? `deferred/${o.reason}` : o.kind));
  }

  async function owed(sessionId: string): Promise<{ status: string; shortfall: number }> {
    const [p] = await env.db.$queryRaw<{ status: string; refund_shortfall: bigint }[]>`
      SELECT status, refund_shortfall FROM purchases WHERE stripe_session_id = ${sessionId}`;
    return { status: p!.status, shortfall: Number(p!.refund_shortfall) };
  }

  const refundRows = (shopId: string) =>
    env.db.$queryRaw<{ idempotency_key: string; amount: bigint }[]>`
      SELECT idempotency_key, amount FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND type = 'refund' ORDER BY ledger_seq`;

  const rejected = (m: OutboundMessage): SendResult => ({ reference: m.reference, outcome: 'rejected', permanent: true, code: 'invalid_number' });
  const down = (): Error => new ProviderUnavailableError('fake', 'down', 503);
  const accepted = (m: OutboundMessage): SendResult => ({ reference: m.reference, outcome: 'accepted', providerMessageId: `p-${randomUUID()}` });

  it.each([
    ['batched', 'refused permanently', plain, rejected, 'completed'],
    ['batched', 'provider down (tried later)', plain, down, 'deferred/provider_retry'],
    ['one at a time', 'refused permanently', linked, rejected, 'completed'],
    ['one at a time', 'provider down (tried later)', linked, down, 'deferred/provider_retry'],
  ])('%s, %s: the held credit pays the refund, not the merchant', async (_path, _what, body, answer, outcome) => {
    const { shop, sessionId, paymentIntent } = await scene(body);
    expect(await sendOnce(refundedMidRequest(paymentIntent, answer))).toEqual([outcome]);

    // The refund took the two credits nobody held; the held one came back to it when the message was not charged.
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await owed(sessionId)).toEqual({ status: 'refunded', shortfall: 0 });
    const rows = await refundRows(shop.id);
    expect(rows.map((r) => Number(r.amount))).toEqual([-2, -1]);
    expect(rows[1]!.idempotency_key).toContain('-rest-1');
    expect(await findLedgerMismatches(env.db, { shopId: shop.id })).toEqual([]);
  });

  it.each([
    ['batched', plain],
    ['one at a time', linked],
  ])('%s, sent: the held credit paid for the message, and the rest of the refund stays owed', async (_path, body) => {
    const { shop, sessionId, paymentIntent } = await scene(body);
    expect(await sendOnce(refundedMidRequest(paymentIntent, accepted))).toEqual(['completed']);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await owed(sessionId)).toEqual({ status: 'refunded', shortfall: 1 });
    expect((await refundRows(shop.id)).map((r) => Number(r.amount))).toEqual([-2]);
    expect(await findLedgerMismatches(env.db, { shopId: shop.id })).toEqual([]);
  });

  it.each([
    ['batched', plain],
    ['one at a time', linked],
  ])('%s: a dispute opened while the message held a credit gets it when the message is refused', async (_path, body) => {
    const { shop, paymentIntent } = await scene(body);
    const opened = stripeEvent('charge.dispute.created', disputeObject(paymentIntent, 'needs_response'));
    expect(await sendOnce(refundedMidRequest(paymentIntent, rejected, opened))).toEqual(['completed']);
    // The dispute holds the whole pack: the two it found free, and the one the message gave back.
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 3, reserved: 3 });
    const [d] = await env.db.$queryRaw<{ hold_shortfall: bigint }[]>`
      SELECT hold_shortfall FROM stripe_disputes WHERE stripe_payment_intent_id = ${paymentIntent}`;
    expect(Number(d!.hold_shortfall)).toBe(0);
    expect(await findLedgerMismatches(env.db, { shopId: shop.id })).toEqual([]);
  });

  it('a hold opened after the refund owes it nothing', async () => {
    const { shop, sessionId, paymentIntent } = await scene(plain);
    // Two credits parked in a reservation when the refund comes: it takes the third, and two stay owed.
    await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: null, reservationKey: `parked-${randomUUID()}`, amount: 2 }));
    const refund = stripeEvent('charge.refunded', chargeObject(paymentIntent, { refunds: [rid('re')] }));
    expect((await postStripe(app, refund)).status).toBe(200);
    expect(await stripeEventSettled(env.db, refund.id as string)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 2, reserved: 2 });
    expect(await owed(sessionId)).toEqual({ status: 'refunded', shortfall: 2 });
    // Credits granted after the refund: the flow holds one of them and gives it back, and it stays the merchant's.
    await grantCredits(env.db, shop.id, 2);
    const plainRejected: SmsProvider = { name: 'fake', dedupsByReference: false, maxBatchSize: 100, sendBatch: async (ms) => ms.map(rejected) };
    expect(await sendOnce(plainRejected)).toEqual(['completed']);
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 4, reserved: 2 });
    expect(await owed(sessionId)).toEqual({ status: 'refunded', shortfall: 2 });
    expect(await findLedgerMismatches(env.db, { shopId: shop.id })).toEqual([]);
  });
});
