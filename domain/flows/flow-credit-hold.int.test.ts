import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { moneyState } from '../../test/sending';
import { sessionToken } from '../../test/session-token';
import { reserveCredits } from '../credits/reservations';
import { ProviderUnavailableError, type OutboundMessage, type SendResult, type SmsProvider } from '../messaging/providers/provider';
import { findLedgerMismatches } from '../reconciliation/ledger-check';
import { applyFlowMessageReports } from './apply-flow-message-reports';
import { markShopUninstalled } from '../shops/uninstall-shop';
import { releaseOrphanedReservations } from '../reconciliation/release-orphaned-reservations';
import { claimDueRuns } from './claim-due-runs';
import { executeFlowSteps } from './execute-flow-steps';
import type { StepOutcome } from './execute-flow-step';
import { stepsSchema } from './flow-input';
import { FLOW_HOLD_GRACE_MS } from './hold-flow-credits';
import type { FlowSendDeps } from './send-flow-message';
import { startFlowRuns } from './start-flow-runs';

// Flow messages hold their credits under the wallet's lock before the
// provider call (docs/credits.md "Flow messages"): two claims of one shop
// sending at once (the flows queue runs several step jobs side by side) must
// not both spend the same balance, on the batched path nor on the
// one-message path. Every hold is closed by its settle, whatever the outcome,
// and one a dead worker left is given back by reconciliation; the wallet
// always matches the ledger and its active reservations.

describe('flow credit holds', () => {
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
    // Each test claims what it started: no due run left over from the one before.
    await env.db.$executeRaw`UPDATE flow_runs SET status = 'exited', exit_reason = 'condition', next_due_at = NULL, ended_at = now(), claim_token = NULL, lease_until = NULL WHERE status = 'active'`;
  });

  const at = new Date(Date.UTC(2026, 11, 1, 16));
  const now = new Date(at.getTime() + 60_000);
  const plain = 'Welcome {{firstName}}!';
  /** A body with a link: its short-link codes need the message's id, so every run is sent on its own. */
  const linked = 'Welcome {{firstName}}! https://acme.example/sale';

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  /** Records what it is asked to send and answers `answer` (accepted by default); `during` runs inside each request before it answers. */
  function provider(sent: OutboundMessage[], o: { during?: () => Promise<void>; answer?: (m: OutboundMessage) => SendResult; fail?: Error } = {}): SmsProvider {
    return {
      name: 'fake',
      dedupsByReference: false,
      maxBatchSize: 100,
      sendBatch: async (messages): Promise<SendResult[]> => {
        sent.push(...messages);
        if (o.during) await o.during();
        if (o.fail) throw o.fail;
        return messages.map((m) => o.answer?.(m) ?? { reference: m.reference, outcome: 'accepted', providerMessageId: `p-${randomUUID()}` });
      },
    };
  }
  const deps = (p: SmsProvider, extra: Partial<FlowSendDeps> = {}): FlowSendDeps => ({ provider: p, phoneHashKey: env.config.PHONE_HASH_KEY, leaseMs: 60_000, quietHoursFloor: false, ...extra });

  /** A shop with `credits`, a live flow of one send step and `runs` runs due (one-segment messages, no footer). */
  async function scene(credits: number, runs: number, body: string): Promise<{ shop: ShopFixture }> {
    const shop = await createShop(env.db, { credits, optOutFooter: false });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false WHERE id = ${shop.id}::uuid`;
    const steps = [{ type: 'send', body }];
    const created = await post(shop, '/api/flows', { name: 'Welcome', trigger: { type: 'order_created' }, steps });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    const contacts: { id: string }[] = [];
    for (let i = 0; i < runs; i++) contacts.push(await createContact(env.db, shop.id));
    await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id,
        triggerType: 'order_created',
        shopTimezone: 'UTC',
        traceId: 'flow-credit-hold',
        requireLive: true,
        flows: [{ id: created.body.id, versionId: created.body.currentVersion.id, steps: stepsSchema.parse(steps) }],
        candidates: contacts.map((c) => ({ contactId: c.id, subject: `o-${randomUUID()}`, triggeredAt: at, baseAt: at, phone: null, timezone: null })),
      }),
    );
    return { shop };
  }

  const claim = async (limit: number, after?: Parameters<typeof claimDueRuns>[1]['after'], when = now) => {
    const c = await claimDueRuns(env.db, { now: when, limit, leaseMs: 60_000, after });
    expect(c.runIds).toHaveLength(limit);
    return c;
  };
  const run = (c: { runIds: string[]; claimToken: string }, send: FlowSendDeps, when = now) =>
    executeFlowSteps(env.db, { runIds: c.runIds, claimToken: c.claimToken, now: () => when, send });
  const kinds = (...maps: Map<string, StepOutcome>[]): Record<string, number> => {
    const n: Record<string, number> = {};
    for (const m of maps) {
      for (const o of m.values()) {
        const k = o.kind === 'deferred' ? `deferred/${o.reason}` : o.kind;
        n[k] = (n[k] ?? 0) + 1;
      }
    }
    return n;
  };
  /** Charged credits, the wallet, and whether it matches its ledger and active reservations (none left open). */
  async function money(shopId: string) {
    const [m] = await env.db.$queryRaw<{ sent: number; credits: number }[]>`
      SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, COALESCE(sum(credits), 0)::int AS credits FROM flow_messages WHERE shop_id = ${shopId}::uuid`;
    const w = await moneyState(env.db, shopId);
    return { sentRows: m!.sent, charged: m!.credits, balance: w.balance, reserved: w.reserved, openHolds: w.activeRemaining, mismatches: (await findLedgerMismatches(env.db, { shopId })).length };
  }

  /** Blocks the shop's wallet row in a transaction of its own until `spend` is called, which reserves `credits` and commits. */
  function lockWallet(shopId: string): { spend: (credits: number) => Promise<void> } {
    let go!: (credits: number) => void;
    const gate = new Promise<number>((resolve) => (go = resolve));
    const done = env.db.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM credit_wallets WHERE shop_id = ${shopId}::uuid FOR UPDATE`;
        const credits = await gate;
        await reserveCredits(tx, { shopId, campaignId: null, reservationKey: `test-${randomUUID()}`, amount: credits });
      },
      { timeout: 20_000 },
    );
    return {
      spend: async (credits) => {
        // The send transaction is waiting for the wallet: its balance read (without a lock) is already behind.
        for (let i = 0; i < 500; i++) {
          const [w] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`;
          if (w!.n > 0) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        go(credits);
        await done;
      },
    };
  }

  it('two claims of one shop sending side by side (batched) send only what the balance covers, the rest deferred', async () => {
    const { shop } = await scene(4, 8, plain);
    const a = await claim(4);
    const b = await claim(4, a.last);
    const sent: OutboundMessage[] = [];
    let bOut = new Map<string, StepOutcome>();
    // Job B runs while job A's provider request is in flight.
    const aOut = await run(a, deps(provider(sent, { during: async () => void (bOut = await run(b, deps(provider(sent)))) })));
    expect(sent).toHaveLength(4);
    expect(kinds(aOut, bOut)).toEqual({ completed: 4, 'deferred/insufficient_credits': 4 });
    expect(await money(shop.id)).toEqual({ sentRows: 4, charged: 4, balance: 0, reserved: 0, openHolds: 0, mismatches: 0 });
  });

  it('two claims of one shop sending one message at a time side by side send only what the balance covers', async () => {
    const { shop } = await scene(2, 4, linked);
    const a = await claim(2);
    const b = await claim(2, a.last);
    const sent: OutboundMessage[] = [];
    let bOut = new Map<string, StepOutcome>();
    let first = true;
    const during = async () => {
      if (!first) return;
      first = false;
      bOut = await run(b, deps(provider(sent)));
    };
    const aOut = await run(a, deps(provider(sent, { during })));
    expect(sent).toHaveLength(2);
    expect(kinds(aOut, bOut)).toEqual({ completed: 2, 'deferred/insufficient_credits': 2 });
    expect(await money(shop.id)).toEqual({ sentRows: 2, charged: 2, balance: 0, reserved: 0, openHolds: 0, mismatches: 0 });
  });

  it('credits spent between the balance read and the hold defer the batched sends they no longer cover, marks and slots undone', async () => {
    const { shop } = await scene(4, 4, plain);
    const c = await claim(4);
    const sent: OutboundMessage[] = [];
    const wallet = lockWallet(shop.id);
    const out = run(c, deps(provider(sent)));
    await wallet.spend(3);
    expect(kinds(await out)).toEqual({ completed: 1, 'deferred/insufficient_credits': 3 });
    expect(sent).toHaveLength(1);
    const [left] = await env.db.$queryRaw<{ marked: number; slots: number }[]>`
      SELECT (SELECT count(*)::int FROM flow_runs WHERE id = ANY(${c.runIds}::bigint[]) AND sending_message_id IS NOT NULL) AS marked,
             (SELECT count(*)::int FROM contact_send_slots s JOIN flow_runs r ON r.contact_id = s.contact_id
               WHERE r.id = ANY(${c.runIds}::bigint[]) AND s.last_at IS NOT NULL) AS slots`;
    // Only the message sent holds its contact's slot.
    expect(left).toEqual({ marked: 0, slots: 1 });
    // 3 held by the spender's reservation, 1 charged.
    expect(await money(shop.id)).toEqual({ sentRows: 1, charged: 1, balance: 3, reserved: 3, openHolds: 3, mismatches: 0 });
  });

  it('credits spent between the balance read and the hold defer a message sent on its own, nothing of the attempt kept', async () => {
    const { shop } = await scene(1, 1, linked);
    const c = await claim(1);
    const sent: OutboundMessage[] = [];
    const wallet = lockWallet(shop.id);
    const out = run(c, deps(provider(sent)));
    await wallet.spend(1);
    expect(kinds(await out)).toEqual({ 'deferred/insufficient_credits': 1 });
    expect(sent).toHaveLength(0);
    const [left] = await env.db.$queryRaw<{ messages: number; slots: number }[]>`
      SELECT (SELECT count(*)::int FROM flow_messages WHERE run_id = ANY(${c.runIds}::bigint[])) AS messages,
             (SELECT count(*)::int FROM contact_send_slots s JOIN flow_runs r ON r.contact_id = s.contact_id WHERE r.id = ANY(${c.runIds}::bigint[])) AS slots`;
    expect(left).toEqual({ messages: 0, slots: 0 });
    expect(await money(shop.id)).toEqual({ sentRows: 0, charged: 0, balance: 1, reserved: 1, openHolds: 1, mismatches: 0 });
  });

  it.each([
    ['batched', plain],
    ['one at a time', linked],
  ])('%s: a hold is given back whatever the outcome (refused request, permanent rejection, unknown)', async (_path, body) => {
    const { shop } = await scene(10, 6, body);
    const sent: OutboundMessage[] = [];
    const refused = await run(await claim(2), deps(provider(sent, { fail: new ProviderUnavailableError('fake', 'down', 503) })));
    const rejected = await run(await claim(2), deps(provider(sent, { answer: (m) => ({ reference: m.reference, outcome: 'rejected', permanent: true, code: 'invalid_number' }) })));
    const unknown = await run(await claim(2), deps(provider(sent, { answer: (m) => ({ reference: m.reference, outcome: 'unknown', reason: 'timeout' }) })));
    expect(kinds(refused)).toEqual({ 'deferred/provider_retry': 2 });
    expect(kinds(rejected, unknown)).toEqual({ completed: 4 });
    expect(await money(shop.id)).toEqual({ sentRows: 0, charged: 0, balance: 10, reserved: 0, openHolds: 0, mismatches: 0 });
  });

  it.each([
    ['batched', plain],
    ['one at a time', linked],
  ])('%s: a hold a dead worker left is an active reservation, given back by reconciliation once it expires', async (_path, body) => {
    const { shop } = await scene(5, 1, body);
    const sent: OutboundMessage[] = [];
    // The worker dies between the provider call and the settle.
    const died = deps(provider(sent), { afterProviderCall: () => Promise.reject(new Error('worker killed')) });
    await expect(run(await claim(1), died)).rejects.toThrow('worker killed');
    expect(await money(shop.id)).toEqual({ sentRows: 0, charged: 0, balance: 5, reserved: 1, openHolds: 1, mismatches: 0 });

    // Not before it expires: a settle may still come.
    expect(await releaseOrphanedReservations(env.db, { now: new Date(now.getTime() + 60_000), limit: 100 })).toBe(0);
    expect(await releaseOrphanedReservations(env.db, { now: new Date(now.getTime() + 60_000 + FLOW_HOLD_GRACE_MS + 1_000), limit: 100 })).toBe(1);
    expect(await money(shop.id)).toEqual({ sentRows: 0, charged: 0, balance: 5, reserved: 0, openHolds: 0, mismatches: 0 });

    // The lease run out, the next claim finds the message that may have gone: unknown, not re-sent, not charged.
    const later = new Date(now.getTime() + 120_000);
    const next = await run(await claim(1, undefined, later), deps(provider(sent)), later);
    expect(kinds(next)).toEqual({ completed: 1 });
    expect(sent).toHaveLength(1);
    expect(await money(shop.id)).toEqual({ sentRows: 0, charged: 0, balance: 5, reserved: 0, openHolds: 0, mismatches: 0 });
  });

  it('one at a time: a message a dead worker may have sent, re-sent to a deduplicating provider, is charged out of the hold that worker left', async () => {
    // One credit: the dead attempt's hold is all the wallet had, so charging the re-send from the available balance
    // charged nothing, and the hold kept the credit from every other send of the shop until it expired.
    const { shop } = await scene(1, 1, linked);
    const sent: OutboundMessage[] = [];
    const dedup = (o: Parameters<typeof provider>[1] = {}): SmsProvider => ({ ...provider(sent, o), dedupsByReference: true });
    await expect(run(await claim(1), deps(dedup(), { afterProviderCall: () => Promise.reject(new Error('worker killed')) }))).rejects.toThrow('worker killed');
    expect(await money(shop.id)).toEqual({ sentRows: 0, charged: 0, balance: 1, reserved: 1, openHolds: 1, mismatches: 0 });

    // The lease ran out, the hold has not expired: the next claim repeats the reference and is charged once, out of that hold.
    const later = new Date(now.getTime() + 120_000);
    expect(kinds(await run(await claim(1, undefined, later), deps(dedup()), later))).toEqual({ completed: 1 });
    expect(sent.map((m) => m.reference)).toEqual([sent[0]!.reference, sent[0]!.reference]);
    expect(await money(shop.id)).toEqual({ sentRows: 1, charged: 1, balance: 0, reserved: 0, openHolds: 0, mismatches: 0 });
  });

  it('one at a time: a message a dead worker may have sent, recorded unknown, gives back the hold that worker left at once', async () => {
    const { shop } = await scene(1, 1, linked);
    const sent: OutboundMessage[] = [];
    await expect(run(await claim(1), deps(provider(sent), { afterProviderCall: () => Promise.reject(new Error('worker killed')) }))).rejects.toThrow('worker killed');
    const later = new Date(now.getTime() + 120_000);
    expect(kinds(await run(await claim(1, undefined, later), deps(provider(sent)), later))).toEqual({ completed: 1 });
    expect(sent).toHaveLength(1);
    expect(await money(shop.id)).toEqual({ sentRows: 0, charged: 0, balance: 1, reserved: 0, openHolds: 0, mismatches: 0 });
  });

  it.each([
    ['batched', plain, 2],
    ['one at a time', linked, 1],
  ])('%s: a message that went out while a STOP ended its run is recorded unknown at once, so its delivery report charges it', async (_path, body, runs) => {
    const { shop } = await scene(10, runs, body);
    const sent: OutboundMessage[] = [];
    const answers = new Map<string, string>();
    const c = await claim(runs);
    const [contact] = await env.db.$queryRaw<{ id: string }[]>`SELECT contact_id::text AS id FROM flow_runs WHERE id = ${c.runIds[0]}::bigint`;
    // The contact texts STOP while the provider takes the message: the opt-out ends the run, the message went out.
    const stop = async (): Promise<void> => {
      await env.db.$executeRaw`UPDATE contacts SET sms_consent = 'unsubscribed', opted_out_at = now(), opt_out_source = 'keyword' WHERE id = ${contact!.id}::uuid`;
    };
    const out = await run(c, deps(provider(sent, { during: stop, answer: (m) => {
      const pmid = `p-${randomUUID()}`;
      answers.set(m.reference, pmid);
      return { reference: m.reference, outcome: 'accepted', providerMessageId: pmid };
    } })));
    expect(out.get(c.runIds[0]!)).toEqual({ kind: 'lost' });
    const [row] = await env.db.$queryRaw<{ id: string; status: string; error_code: string | null; body: string | null }[]>`
      SELECT m.id::text, m.status, m.error_code, m.body FROM flow_messages m JOIN flow_runs r ON r.id = m.run_id
       WHERE r.contact_id = ${contact!.id}::uuid`;
    expect(row).toMatchObject({ status: 'unknown', error_code: 'run_ended', body: null });

    // Its delivery report comes seconds later: applied at once (not left waiting for a settle that never comes) and charged.
    const report = { eventId: null, messageId: row!.id, providerMessageId: answers.get(`f${row!.id}`)!, status: 'delivered' as const, errorCode: null };
    const [applied] = await env.db.$transaction((tx) => applyFlowMessageReports(tx, [report]));
    expect(applied!.outcome).toBe('processed');
    const m = await money(shop.id);
    expect(m).toMatchObject({ charged: runs, balance: 10 - runs, reserved: 0, openHolds: 0, mismatches: 0 });
  });

  it('one at a time: a message a dead worker may have sent is recorded unknown when its run then ends before the step, so its delivery report charges it', async () => {
    const { shop } = await scene(5, 1, linked);
    const sent: OutboundMessage[] = [];
    const answers = new Map<string, string>();
    const accept = (m: OutboundMessage): SendResult => {
      const pmid = `p-${randomUUID()}`;
      answers.set(m.reference, pmid);
      return { reference: m.reference, outcome: 'accepted', providerMessageId: pmid };
    };
    const c = await claim(1);
    await expect(run(c, deps(provider(sent, { answer: accept }), { afterProviderCall: () => Promise.reject(new Error('worker killed')) }))).rejects.toThrow('worker killed');
    // Its order is cancelled meanwhile: the next claim ends the run before its step (order_cancelled).
    const [r] = await env.db.$queryRaw<{ subject: string; contact_id: string }[]>`SELECT trigger_subject AS subject, contact_id::text FROM flow_runs WHERE id = ${c.runIds[0]}::bigint`;
    await env.db.$executeRaw`
      INSERT INTO shopify_orders (shop_id, order_id, contact_id, total_minor, currency, ordered_at, cancelled_at)
      VALUES (${shop.id}::uuid, ${r!.subject}, ${r!.contact_id}::uuid, 1000, 'EUR', ${at}, ${now})`;
    const later = new Date(now.getTime() + 120_000);
    expect([...(await run(await claim(1, undefined, later), deps(provider(sent)), later)).values()]).toEqual([{ kind: 'exited', reason: 'order_cancelled' }]);
    expect(sent).toHaveLength(1);
    const [row] = await env.db.$queryRaw<{ id: string; status: string; error_code: string | null; body: string | null }[]>`
      SELECT id::text, status, error_code, body FROM flow_messages WHERE run_id = ${c.runIds[0]}::bigint`;
    expect(row).toMatchObject({ status: 'unknown', error_code: 'lease_expired', body: null });
    const report = { eventId: null, messageId: row!.id, providerMessageId: answers.get(`f${row!.id}`)!, status: 'delivered' as const, errorCode: null };
    const [applied] = await env.db.$transaction((tx) => applyFlowMessageReports(tx, [report]));
    expect(applied!.outcome).toBe('processed');
    expect(await money(shop.id)).toMatchObject({ charged: 1, balance: 4, reserved: 1, openHolds: 1, mismatches: 0 });
  });

  it('one at a time: a test run\'s message that went out while the app was uninstalled is recorded unknown at once, so its delivery report charges it', async () => {
    const { shop } = await scene(5, 1, linked);
    // The scene's run, made a test run (uninstalling ends those; the flow's other runs are held).
    await env.db.$executeRaw`UPDATE flow_runs SET trigger_type = 'manual', trigger_subject = 'manual:' || gen_random_uuid() WHERE shop_id = ${shop.id}::uuid`;
    const sent: OutboundMessage[] = [];
    const answers = new Map<string, string>();
    const c = await claim(1);
    const uninstall = async (): Promise<void> => void (await markShopUninstalled(env.db, shop.id, now));
    const out = await run(c, deps(provider(sent, { during: uninstall, answer: (m) => {
      const pmid = `p-${randomUUID()}`;
      answers.set(m.reference, pmid);
      return { reference: m.reference, outcome: 'accepted', providerMessageId: pmid };
    } })));
    expect(out.get(c.runIds[0]!)).toEqual({ kind: 'lost' });
    const [row] = await env.db.$queryRaw<{ id: string; status: string; error_code: string | null; body: string | null }[]>`
      SELECT id::text, status, error_code, body FROM flow_messages WHERE run_id = ${c.runIds[0]}::bigint`;
    expect(row).toMatchObject({ status: 'unknown', error_code: 'run_ended', body: null });
    const report = { eventId: null, messageId: row!.id, providerMessageId: answers.get(`f${row!.id}`)!, status: 'delivered' as const, errorCode: null };
    const [applied] = await env.db.$transaction((tx) => applyFlowMessageReports(tx, [report]));
    expect(applied!.outcome).toBe('processed');
    expect(await money(shop.id)).toMatchObject({ charged: 1, balance: 4, reserved: 0, openHolds: 0, mismatches: 0 });
  });
});
