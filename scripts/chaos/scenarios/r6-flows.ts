import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from '../../../lib/db';
import { sleep, type Stack } from '../../lib/stack';
import type { ApiClient } from '../api-client';
import { expectStatus, provisionShop, withChaosStack } from '../campaign-run';
import { checkFlows, type FlowIds } from '../flow-invariants';
import { checkoutBody, customerBody, orderBody, planPeople, shopifyStorm, StormTally, stopStorm, type Person } from '../flow-traffic';
import { checkMoney, pool } from '../invariants';
import { out, type ScenarioReport } from '../report';
import { PrivateRedis } from '../services';
import type { ScenarioOptions } from './types';

// R6: live flows under chaos. A welcome series (send, wait, send, send), an
// abandoned-checkout reminder and a post-purchase pair are created and
// activated through the API; then N Shopify customers subscribe, a third
// abandon a checkout (half of those order before the reminder is due), others
// order, some text STOP — every webhook delivered as a duplicate storm —
// while the worker processes are SIGKILLed every few seconds and restarted.
// Once the flows are at rest, flow-invariants.ts proves from Postgres and
// the simulator: one run per trigger occurrence, none stuck, each step sent
// at most once and in order (to a provider that does NOT dedup by reference),
// credits = segments charged, nothing after a STOP, no reminder after an order.
//
// The full run also kills its own redis-server (no persistence: every job,
// lock and job scheduler lost) while the welcome runs wait between steps, and
// starts it again empty: the runs' due times live in Postgres only.
//
// Waits are made short the way the flow tests make them short: the run's
// `next_due_at` (the only clock, docs/flows.md "Execution") is pulled to now
// while the run waits unclaimed. Abandoned-checkout runs are pulled only once
// every order is recorded, so "an order before the delay" means what it says.

const KILL_EVERY_MS = 3_000;
const REDIS_OUTAGE_MS = 5_000;
const KILLS_AFTER_OUTAGE_MS = 15_000;

interface Sizes {
  people: number;
  /** Copies of one delivery under one webhook id, sent at once. */
  same: number;
  /** Copies under new webhook ids. */
  fresh: number;
  /** How long the kills go on once every customer is subscribed (the runs execute). */
  killForMs: number;
  timeoutMs: number;
  /** Kill the stack's redis-server while the welcome runs wait (R2-style), then start it empty. */
  redisRestart: boolean;
}

interface ChaosState {
  done: boolean;
  /** No kill meanwhile (the Redis outage). */
  outage: boolean;
  /** The kills end then (0: not yet known — they go on until the runs have started). */
  killUntil: number;
  /** No wait cut short yet (the full run: until Redis has been through its outage). */
  clockHeld: boolean;
  /** Abandoned-checkout runs may come due (every order is recorded). */
  checkoutsRipe: boolean;
  /** Phones whose runs are not pulled forward: their STOP must land while they wait between steps. */
  held: Set<string>;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

async function createFlows(api: ApiClient, domain: string): Promise<FlowIds> {
  const create = async (body: object): Promise<string> => {
    const flow = expectStatus('POST /api/flows', await api.call<{ id: string }>(domain, 'POST', '/flows', body, { 'Idempotency-Key': randomUUID() }), 201);
    expectStatus('POST /api/flows/:id/activate', await api.call(domain, 'POST', `/flows/${flow.id}/activate`, {}, { 'Idempotency-Key': randomUUID() }), 200);
    return flow.id;
  };
  // Exempt from smart sending: which steps a run sends must not depend on which flow texted the contact first.
  const exempt = { mode: 'exempt' };
  // Long enough that a held run (a STOP's, or every run before the full run's Redis outage) is still waiting when it matters.
  const wait = { type: 'wait', duration: { amount: 10, unit: 'minutes' } };
  return {
    welcome: await create({
      name: 'Welcome series',
      trigger: { type: 'contact_subscribed' },
      exitCondition: { orderPlaced: false },
      smartSending: exempt,
      steps: [
        { type: 'send', body: 'Welcome to the shop, {{firstName|there}}!' },
        wait,
        { type: 'send', body: 'Still looking, {{firstName|there}}? {{discountCode}} takes 10% off.', discountCode: 'WELCOME10' },
        { type: 'send', body: 'Last one from us: free shipping all week.' },
      ],
    }),
    checkout: await create({
      name: 'Abandoned checkout',
      trigger: { type: 'checkout_abandoned', delayMinutes: 10 },
      smartSending: exempt,
      steps: [{ type: 'send', body: 'Forgot something, {{firstName|there}}? {{checkoutUrl}}' }],
    }),
    post: await create({
      name: 'Post-purchase',
      trigger: { type: 'order_created' },
      smartSending: exempt,
      steps: [{ type: 'send', body: 'Thanks for your order, {{firstName|there}}!' }, wait, { type: 'send', body: 'How is it going? Reply with any question.' }],
    }),
  };
}

/**
 * SIGKILLs one worker every few seconds (both now and then), a fresh one
 * started each time: from the first webhook until `state.killUntil` (set
 * once the runs execute, so the kills land in webhook processing, trigger
 * jobs, the scheduler and step jobs alike), again after a Redis outage.
 * Once the runs execute, each round first waits (≤ 2 s) for a step job to
 * hold claimed runs and kills every worker then: a claim's messages go in
 * ONE provider request, so a kill at a random moment lands inside a step
 * seldom (seen: 0 runs claimed again in three runs of 6 kills each).
 */
async function killWorkers(stack: Stack, state: ChaosState, db: Db, shopId: string): Promise<{ kills: number; rounds: number }> {
  let kills = 0;
  let rounds = 0;
  await sleep(1_000);
  while (!state.done) {
    if (state.outage || (state.killUntil !== 0 && Date.now() >= state.killUntil)) {
      await sleep(250);
      continue;
    }
    rounds++;
    const alive = stack.workers();
    const midStep = state.killUntil !== 0 && (await stepInFlight(db, shopId));
    const victims = midStep || rounds % 4 === 0 ? alive : alive.slice(0, 1);
    for (const w of victims) stack.signal(w, 'SIGKILL');
    kills += victims.length;
    await Promise.all(victims.map(() => stack.addWorker()));
    for (let waited = 0; waited < KILL_EVERY_MS && !state.done; waited += 250) await sleep(250);
  }
  return { kills, rounds };
}

/** Polls (every 5 ms, ≤ 2 s) until some run of the shop is held by a live claim. */
async function stepInFlight(db: Db, shopId: string): Promise<boolean> {
  const until = Date.now() + 2_000;
  while (Date.now() < until) {
    const [r] = await db.$queryRaw<{ live: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM flow_runs WHERE shop_id = ${shopId}::uuid AND status = 'active' AND lease_until > now()) AS live`;
    if (r?.live) return true;
    await sleep(5);
  }
  return false;
}

/**
 * Once most welcome runs wait between their steps (their waits held), the
 * redis-server is killed, kept down a few seconds and started again empty;
 * then the kills and the clock go on. Nothing is re-added by hand.
 */
async function redisOutageMidWait(report: ScenarioReport, db: Db, redis: PrivateRedis, state: ChaosState, shopId: string, people: number, deadline: number): Promise<void> {
  let waiting = 0;
  const latest = Math.min(deadline, Date.now() + 120_000);
  while (Date.now() < latest) {
    const [r] = await db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM flow_runs r JOIN flows f ON f.id = r.flow_id
       WHERE r.shop_id = ${shopId}::uuid AND f.trigger_type = 'contact_subscribed' AND r.status = 'active' AND r.current_step = 2 AND r.next_due_at > now()`;
    waiting = Number(r?.n ?? 0);
    if (waiting >= people * 0.5) break;
    await sleep(500);
  }
  state.outage = true;
  await redis.stop('SIGKILL');
  const down = Date.now();
  report.note(`redis-server (:${redis.port}) killed while ${fmt(waiting)} welcome runs wait between steps; no persistence, so every key is lost`);
  await sleep(REDIS_OUTAGE_MS);
  await redis.startAgain();
  report.note(`redis-server started again, empty, after ${((Date.now() - down) / 1000).toFixed(1)} s; the waits go on from Postgres`);
  // The waits are cut short now and the steps go out: kill through that too.
  state.killUntil = Math.max(state.killUntil, Date.now() + KILLS_AFTER_OUTAGE_MS);
  state.outage = false;
  state.clockHeld = false;
}

/** The scenario's clock: a run waiting unclaimed is due now (as the flow tests set `next_due_at`). */
async function fastClock(db: Db, shopId: string, state: ChaosState): Promise<number> {
  let pulled = 0;
  while (!state.done) {
    if (state.clockHeld) {
      await sleep(400);
      continue;
    }
    try {
      pulled += await db.$executeRaw`
        UPDATE flow_runs r SET next_due_at = now(), updated_at = now()
          FROM flows f
         WHERE f.id = r.flow_id AND r.shop_id = ${shopId}::uuid AND r.status = 'active' AND r.claim_token IS NULL
           AND r.next_due_at > now()
           AND (f.trigger_type <> 'checkout_abandoned' OR ${state.checkoutsRipe}::boolean)
           AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = r.contact_id AND c.phone_e164 = ANY(${[...state.held]}::text[]))`;
    } catch {
      // Busy for a moment: the next round pulls them.
    }
    await sleep(400);
  }
  return pulled;
}

async function until(what: string, deadline: number, probe: () => Promise<boolean>, everyMs = 300): Promise<void> {
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in time`);
    await sleep(everyMs);
  }
}

/** Customer id → contact id, once every customer's subscription is in. */
async function contactsOf(db: Db, shopId: string, people: Person[], deadline: number): Promise<Map<number, string>> {
  const ids = people.map((p) => String(p.customerId));
  let rows: { id: string; shopify_customer_id: string }[] = [];
  await until('every customer subscribed', deadline, async () => {
    rows = await db.$queryRaw<{ id: string; shopify_customer_id: string }[]>`
      SELECT id::text, shopify_customer_id FROM contacts
       WHERE shop_id = ${shopId}::uuid AND sms_consent = 'subscribed' AND shopify_customer_id = ANY(${ids}::text[])`;
    return rows.length === people.length;
  });
  const byCustomer = new Map(rows.map((r) => [r.shopify_customer_id, r.id]));
  return new Map(people.map((p) => [p.i, byCustomer.get(String(p.customerId)) as string]));
}

/**
 * STOPs: a held contact's once its welcome run waits after the first text,
 * the others at random moments after their run started. One poller reads
 * every STOP contact's welcome run and consent for all of them (the
 * checker's pool is small).
 */
async function sendStops(
  c: { api: ApiClient; db: Db; shopId: string; sender: string; deadline: number; state: ChaosState; tally: StormTally },
  people: Person[],
  contacts: Map<number, string>,
): Promise<Map<number, Date>> {
  const ids = people.map((p) => contacts.get(p.i) as string);
  const runs = new Map<string, { current_step: number; status: string }>();
  const unsubscribed = new Set<string>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        const rows = await c.db.$queryRaw<{ contact_id: string; current_step: number; status: string; sms_consent: string }[]>`
          SELECT k.id::text AS contact_id, r.current_step, r.status, k.sms_consent
            FROM contacts k
            LEFT JOIN flow_runs r ON r.contact_id = k.id AND r.flow_id IN (SELECT id FROM flows WHERE shop_id = ${c.shopId}::uuid AND trigger_type = 'contact_subscribed')
           WHERE k.id = ANY(${ids}::uuid[])`;
        for (const r of rows) {
          if (r.status !== null) runs.set(r.contact_id, { current_step: r.current_step, status: r.status });
          if (r.sms_consent === 'unsubscribed') unsubscribed.add(r.contact_id);
        }
      } catch {
        // Busy for a moment: the next round reads them.
      }
      await sleep(200);
    }
  })();
  const stoppedAt = new Map<number, Date>();
  try {
    await pool(people, people.length, async (p) => {
      const contact = contacts.get(p.i) as string;
      // A STOP before the run started would only prove the trigger's re-check: wait for the run.
      await until(`#${p.i}'s welcome run`, c.deadline, async () => {
        const r = runs.get(contact);
        return r !== undefined && (p.stop !== 'held' || r.current_step >= 2 || r.status !== 'active');
      });
      if (p.stop === 'racing') await sleep(Math.random() * 3_000);
      await stopStorm(c.api, c.tally, { from: p.phone, to: c.sender, copies: 3 });
      // In force once Postgres says so (the route applies it before answering; its job is the fallback).
      const asked = Date.now();
      await until(`#${p.i}'s STOP in force`, c.deadline, async () => unsubscribed.has(contact) && Date.now() - asked > 250, 100);
      stoppedAt.set(p.i, new Date());
      c.state.held.delete(p.phone);
    });
  } finally {
    polling = false;
    await poller;
  }
  return stoppedAt;
}

interface Rest {
  active: bigint;
  runs: bigint;
  hooks: bigint;
  events: bigint;
  inflight: bigint;
  messages: bigint;
}

/**
 * At rest: no active run, no message in flight under an active run, every
 * webhook processed (but a delivery report of a message in flight under a
 * run that ended, which waits for reconciliation), every flow trigger event
 * consumed, and at least the runs every trigger must start — for 3 s on end.
 */
async function waitForRest(db: Db, shopId: string, minRuns: number, deadline: number, startedAt: number): Promise<void> {
  let quietSince = 0;
  let lastLine = 0;
  for (;;) {
    let s: Rest | undefined;
    try {
      [s] = await db.$queryRaw<Rest[]>`
        SELECT (SELECT count(*) FROM flow_runs WHERE shop_id = ${shopId}::uuid AND status = 'active') AS active,
               (SELECT count(*) FROM flow_runs WHERE shop_id = ${shopId}::uuid) AS runs,
               (SELECT count(*) FROM flow_messages WHERE shop_id = ${shopId}::uuid) AS messages,
               (SELECT count(*) FROM webhook_events w WHERE w.status IN ('received', 'failed')
                   AND NOT EXISTS (SELECT 1 FROM flow_messages m WHERE m.status = 'sending' AND 'f' || m.id::text = w.payload->>'reference')) AS hooks,
               (SELECT count(*) FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND consumed_at IS NULL)
             + (SELECT count(*) FROM keyword_replies WHERE status IN ('pending', 'sending')) AS events,
               (SELECT count(*) FROM flow_messages m JOIN flow_runs r ON r.id = m.run_id
                 WHERE m.shop_id = ${shopId}::uuid AND m.status = 'sending' AND r.status = 'active') AS inflight`;
    } catch {
      s = undefined;
    }
    const atRest = s !== undefined && s.active === 0n && s.inflight === 0n && s.hooks === 0n && s.events === 0n && Number(s.runs) >= minRuns;
    if (!atRest) quietSince = 0;
    else if (quietSince === 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= 3_000) return;
    const line = s ? `${fmt(Number(s.runs))} runs (${fmt(Number(s.active))} active), ${fmt(Number(s.messages))} messages, ${s.hooks} webhooks and ${s.events} trigger events or STOP confirmations open` : 'Postgres busy';
    if (Date.now() > deadline) throw new Error(`flows did not come to rest in time (${line})`);
    if (Date.now() - lastLine > 5_000) {
      lastLine = Date.now();
      out(`  ..    ${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${line}`);
    }
    await sleep(500);
  }
}

export async function r6Flows(report: ScenarioReport, o: ScenarioOptions): Promise<void> {
  const sizes: Sizes = o.fast
    ? { people: 300, same: 4, fresh: 2, killForMs: 20_000, timeoutMs: 240_000, redisRestart: false }
    : { people: 600, same: 6, fresh: 2, killForMs: 40_000, timeoutMs: 900_000, redisRestart: true };
  const redis = sizes.redisRestart ? await PrivateRedis.start(mkdtempSync(path.join(tmpdir(), 'sms-chaos-redis-'))) : null;
  await withChaosStack(
    report,
    {
      label: 'R6',
      workers: 2,
      serverUrl: o.databaseUrl,
      timeoutMs: sizes.timeoutMs,
      // The strict provider: a repeated reference is a second SMS, so a send a
      // kill left unknown must never go out again (recorded `unknown` instead).
      env: {
        SMS_PROVIDER_DEDUPS_BY_REFERENCE: 'false',
        SIMULATOR_DEDUPS_BY_REFERENCE: 'false',
        // Its own redis-server, even when the run is on a cluster (REDIS_CLUSTER_NODES).
        ...(redis ? { REDIS_URL: redis.url, REDIS_CLUSTER_NODES: '' } : {}),
      },
    },
    async ({ stack, api, db, deadline }) => {
      const started = Date.now();
      const people = planPeople(sizes.people, randomBytes(3).toString('hex'));
      const shop = await provisionShop(api, db, 'R6', 0, sizes.people * 20);
      // An owned sender, so a STOP texted to it is this shop's.
      const sender = `R6${randomBytes(4).toString('hex')}`;
      expectStatus('PATCH /api/shop', await api.call(shop.domain, 'PATCH', '/shop', { senderId: sender }), 200);
      const flows = await createFlows(api, shop.domain);
      // Provider latency: a kill lands between the provider call and the settle more often.
      await fetch(`${stack.urls.simulator}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 100 }) });
      const orders = people.filter((p) => p.orderId !== null);
      const checkouts = people.filter((p) => p.checkout);
      const stops = people.filter((p) => p.stop);
      report.note(
        `shop ${shop.domain}: ${fmt(people.length)} customers, ${checkouts.length} checkouts (${checkouts.filter((p) => p.checkout?.ordered).length} then ordered), ${orders.length} orders, ${stops.length} STOPs (${stops.filter((p) => p.stop === 'held').length} between steps); each delivery ${sizes.same}× at once + ${sizes.fresh}× under new ids`,
      );

      // The full run holds every wait until Redis has been through its outage, so the outage is mid-wait.
      const state: ChaosState = { done: false, outage: false, killUntil: 0, clockHeld: redis !== null, checkoutsRipe: false, held: new Set(stops.filter((p) => p.stop === 'held').map((p) => p.phone)) };
      // Handled at once (an unobserved rejection would end the suite); rethrown after the run.
      let chaosError: unknown;
      const kills = killWorkers(stack, state, db, shop.id).catch((err: unknown) => {
        chaosError = err;
        return { kills: 0, rounds: 0 };
      });
      const clock = fastClock(db, shop.id, state);
      const tallies = { customers: new StormTally(), checkouts: new StormTally(), orders: new StormTally(), stops: new StormTally() };
      let stoppedAt: Map<number, Date> | undefined;
      let contacts: Map<number, string> | undefined;
      try {
        // Subscriptions, then the same state restated by later updates (a resync's or Shopify's re-sends).
        await pool(people, 16, async (p) => {
          await shopifyStorm(api, tallies.customers, { topic: 'customers/create', shopDomain: shop.domain, raw: customerBody(p, -120_000), same: sizes.same, fresh: sizes.fresh });
          for (const k of [1, 2]) await shopifyStorm(api, tallies.customers, { topic: 'customers/update', shopDomain: shop.domain, raw: customerBody(p, -120_000 + k * 1_000), same: 2, fresh: 0 });
        });
        contacts = await contactsOf(db, shop.id, people, deadline);
        state.killUntil = Date.now() + sizes.killForMs;
        report.note(`${fmt(people.length)} customers subscribed ${((Date.now() - started) / 1000).toFixed(1)} s in`);

        // Handled at once (an unobserved rejection would end the suite); rethrown below.
        let stopError: unknown;
        const stopping = sendStops({ api, db, shopId: shop.id, sender, deadline, state, tally: tallies.stops }, stops, contacts).catch((err: unknown) => {
          stopError = err;
          return new Map<number, Date>();
        });
        // Checkouts: created, then updated twice out of order (the newest update wins).
        await pool(checkouts, 16, async (p) => {
          await shopifyStorm(api, tallies.checkouts, { topic: 'checkouts/create', shopDomain: shop.domain, raw: checkoutBody(p, shop.domain, -90_000), same: sizes.same, fresh: sizes.fresh });
          for (const at of [-30_000, -60_000]) await shopifyStorm(api, tallies.checkouts, { topic: 'checkouts/update', shopDomain: shop.domain, raw: checkoutBody(p, shop.domain, at, -90_000), same: 2, fresh: 1 });
        });
        report.note(`checkouts delivered ${((Date.now() - started) / 1000).toFixed(1)} s in`);
        await pool(orders, 16, (p) => shopifyStorm(api, tallies.orders, { topic: 'orders/create', shopDomain: shop.domain, raw: orderBody(p), same: sizes.same, fresh: sizes.fresh }));
        report.note(`orders delivered ${((Date.now() - started) / 1000).toFixed(1)} s in`);
        const orderIds = orders.map((p) => String(p.orderId));
        await until('every order recorded', deadline, async () => {
          const [r] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM shopify_orders WHERE shop_id = ${shop.id}::uuid AND order_id = ANY(${orderIds}::text[])`;
          return Number(r?.n ?? 0) === orders.length;
        });
        state.checkoutsRipe = true;
        report.note(`every order recorded ${((Date.now() - started) / 1000).toFixed(1)} s in: abandoned-checkout runs may come due`);
        stoppedAt = await stopping;
        if (stopError) throw stopError;
        if (redis) await redisOutageMidWait(report, db, redis, state, shop.id, people.length, deadline);

        const minRuns = people.length + checkouts.filter((p) => !p.checkout?.ordered).length + orders.length;
        await waitForRest(db, shop.id, minRuns, deadline, started);
        report.note(`flows at rest ${((Date.now() - started) / 1000).toFixed(1)} s after the start`);
      } finally {
        state.done = true;
        const k = await kills;
        const pulled = await clock;
        report.note(`${k.kills} worker processes killed with SIGKILL in ${k.rounds} rounds, each replaced; ${fmt(pulled)} waits cut short`);
      }
      if (chaosError) throw chaosError;

      const storms = Object.entries(tallies);
      report.check(
        'duplicate storms: each webhook id stored once, the rest acknowledged as duplicates',
        storms.every(([, t]) => t.badIds === 0 && [...t.counts.keys()].every((k) => k === '200 received' || k === '200 duplicate')),
        storms.map(([name, t]) => `${name}: ${fmt(t.ids)} ids, ${t.show()}${t.badIds ? `, ${t.badIds} stored ≠ once` : ''}`).join('; '),
      );
      if (!contacts || !stoppedAt) throw new Error('the run ended before every STOP was in force');
      await checkFlows(report, { db, simUrl: stack.urls.simulator, shopId: shop.id, flows, people, contacts, stoppedAt });
      await checkMoney(report, db, { expectNothingReserved: true });
      const res = await api.internal<{ repairs: Record<string, number> }>('POST', '/internal/reconcile', {});
      const found = Object.entries(res.body?.repairs ?? {}).filter(([, n]) => n > 0);
      report.check('a reconciliation pass (signed /internal/reconcile) finds nothing to repair', res.status === 200 && found.length === 0, `HTTP ${res.status}, repairs: ${found.map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
    },
  );
}
