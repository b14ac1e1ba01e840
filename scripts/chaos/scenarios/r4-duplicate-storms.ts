import { randomBytes } from 'node:crypto';
import type { Db } from '../../../lib/db';
import { sleep } from '../../lib/stack';
import type { ApiClient, ApiResponse } from '../api-client';
import { checkNothingToRepair, createCampaign, provisionShop, waitForCampaign, withChaosStack } from '../campaign-run';
import { checkCampaigns, checkMoney } from '../invariants';
import type { ScenarioReport } from '../report';
import type { ScenarioOptions } from './types';

// R4: duplicate storms, 100 concurrent requests each, against the real API
// process. Whatever the interleaving, Postgres must let exactly one of them
// have an effect: one enqueue per Idempotency-Key, one status change per
// campaign, one credit grant per Checkout Session, one row per webhook
// delivery and one contact per Shopify customer.

const STORM = 100;
const AUDIENCE = 300;

type Tally = Map<string, number>;

function tally(responses: ApiResponse[], label: (r: ApiResponse) => string): Tally {
  const t: Tally = new Map();
  for (const r of responses) t.set(label(r), (t.get(label(r)) ?? 0) + 1);
  return t;
}

const show = (t: Tally): string => [...t.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}× ${k}`).join(', ');

function codeOf(r: ApiResponse): string {
  const body = r.body as { error?: { code?: string }; duplicate?: boolean; received?: boolean } | null;
  if (body?.error?.code) return `${r.status} ${body.error.code}`;
  if (body?.duplicate) return `${r.status} duplicate`;
  if (body?.received) return `${r.status} received`;
  const replayed = r.headers.get('idempotent-replayed') === 'true';
  return `${r.status}${replayed ? ' replayed' : ''}`;
}

const storm = <T>(fn: () => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: STORM }, fn));

const one = (rows: { n: bigint }[]): number => Number(rows[0]?.n ?? 0);

/** What an enqueue leaves behind: its credit reservation and its launch event. */
async function effects(db: Db, campaignId: string): Promise<{ reservations: number; launches: number }> {
  const reservations = one(await db.$queryRaw`SELECT count(*) AS n FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid`);
  const launches = one(await db.$queryRaw`SELECT count(*) AS n FROM outbox_events WHERE event_type = 'campaign.launch.v1' AND aggregate_id = ${campaignId}`);
  return { reservations, launches };
}

async function enqueueSameKey(report: ScenarioReport, api: ApiClient, db: Db, shop: { id: string; domain: string }): Promise<string> {
  const campaignId = await createCampaign(api, shop.domain, 'Storm: one key');
  const key = `storm-${randomBytes(6).toString('hex')}`;
  const res = await storm(() => api.call(shop.domain, 'POST', `/campaigns/${campaignId}/enqueue`, {}, { 'Idempotency-Key': key }));
  const t = tally(res, codeOf);
  const executed = t.get('202') ?? 0;
  const allowed = executed + (t.get('202 replayed') ?? 0) + (t.get('409 REQUEST_IN_PROGRESS') ?? 0);
  report.check(`${STORM} enqueues, one Idempotency-Key: exactly one execution`, executed === 1 && allowed === STORM, show(t));
  const { reservations, launches } = await effects(db, campaignId);
  const keys = one(await db.$queryRaw`SELECT count(*) AS n FROM idempotency_keys WHERE shop_id = ${shop.id}::uuid AND key = ${key}`);
  report.check('  … and one effect', reservations === 1 && launches === 1 && keys === 1, `${reservations} reservation, ${launches} launch event, ${keys} key row`);
  return campaignId;
}

async function enqueueManyKeys(report: ScenarioReport, api: ApiClient, db: Db, shop: { id: string; domain: string }): Promise<string> {
  const campaignId = await createCampaign(api, shop.domain, 'Storm: many keys');
  const res = await storm(() => api.call(shop.domain, 'POST', `/campaigns/${campaignId}/enqueue`, {}, { 'Idempotency-Key': `storm-${randomBytes(6).toString('hex')}` }));
  const t = tally(res, codeOf);
  report.check(
    `${STORM} enqueues, ${STORM} keys: exactly one status change, the rest 409`,
    t.get('202') === 1 && t.get('409 INVALID_STATE') === STORM - 1,
    show(t),
  );
  const { reservations, launches } = await effects(db, campaignId);
  report.check('  … and one effect', reservations === 1 && launches === 1, `${reservations} reservation, ${launches} launch event`);
  return campaignId;
}

async function waitProcessed(db: Db, provider: string, eventIds: string[], deadline: number): Promise<Tally> {
  for (;;) {
    const rows = await db.$queryRaw<{ status: string; n: bigint }[]>`
      SELECT status, count(*) AS n FROM webhook_events WHERE provider = ${provider} AND event_id = ANY(${eventIds}::text[]) GROUP BY status`;
    const t: Tally = new Map(rows.map((r) => [r.status, Number(r.n)]));
    if (!t.has('received') || Date.now() > deadline) return t;
    await sleep(200);
  }
}

async function stripeStorm(report: ScenarioReport, api: ApiClient, db: Db, shop: { id: string }, deadline: number): Promise<void> {
  const sessionId = `cs_test_${randomBytes(10).toString('hex')}`;
  const credits = 1_000;
  await db.$executeRaw`
    INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
    VALUES (${shop.id}::uuid, ${sessionId}, 'starter', ${credits}::int, 1000, 'usd')`;
  const [before] = await db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  const session = {
    id: sessionId,
    object: 'checkout.session',
    mode: 'payment',
    payment_status: 'paid',
    payment_intent: `pi_${randomBytes(10).toString('hex')}`,
    client_reference_id: shop.id,
    metadata: { shopId: shop.id, packId: 'starter' },
  };
  const event = (id: string, type: string): string =>
    JSON.stringify({ id, object: 'event', type, api_version: '2025-01-27', created: Math.floor(Date.now() / 1000), data: { object: session } });

  // The same event delivered 100 times at once, then 100 distinct events for the same paid session.
  const eventId = `evt_${randomBytes(10).toString('hex')}`;
  const raw = event(eventId, 'checkout.session.completed');
  const same = tally(await storm(() => api.stripeWebhook(raw)), codeOf);
  const distinctIds = Array.from({ length: STORM }, (_, i) => `evt_${randomBytes(8).toString('hex')}_${i}`);
  const distinct = tally(await Promise.all(distinctIds.map((id, i) => api.stripeWebhook(event(id, i % 2 ? 'checkout.session.completed' : 'checkout.session.async_payment_succeeded')))), codeOf);
  report.check(`${STORM} identical Stripe events: one stored, the rest acknowledged as duplicates`, same.get('200 received') === 1 && same.get('200 duplicate') === STORM - 1, show(same));
  report.check(`${STORM} distinct Stripe events for that session: all stored`, distinct.get('200 received') === STORM, show(distinct));

  const processed = await waitProcessed(db, 'stripe', [eventId, ...distinctIds], deadline);
  const rows = one(await db.$queryRaw`SELECT count(*) AS n FROM webhook_events WHERE provider = 'stripe' AND event_id = ${eventId}`);
  const grants = one(await db.$queryRaw`SELECT count(*) AS n FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND idempotency_key = ${`purchase-${sessionId}`}`);
  const [after] = await db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  const [purchase] = await db.$queryRaw<{ status: string }[]>`SELECT status FROM purchases WHERE stripe_session_id = ${sessionId}`;
  const gained = Number((after?.balance ?? 0n) - (before?.balance ?? 0n));
  report.check(
    '  … credits granted once',
    rows === 1 && grants === 1 && gained === credits && purchase?.status === 'paid' && !processed.has('received') && !processed.has('failed'),
    `${rows} row for the repeated event id, ${grants} purchase ledger row, balance +${gained} (pack ${credits}), purchase ${purchase?.status}; events ${show(processed)}`,
  );
}

async function shopifyStorm(report: ScenarioReport, api: ApiClient, db: Db, shop: { id: string; domain: string }, deadline: number): Promise<void> {
  const customerId = String(9_000_000_000 + Math.floor(Math.random() * 1_000_000));
  const phone = `+1201555${String(1000 + Math.floor(Math.random() * 8999))}`;
  const body = (at: number, name: string): string =>
    JSON.stringify({ id: Number(customerId), email: `storm-${customerId}@example.test`, first_name: name, last_name: 'Storm', phone, updated_at: new Date(at).toISOString(), sms_marketing_consent: { state: 'subscribed', consent_updated_at: new Date(at).toISOString() } });

  const webhookId = `wh-${randomBytes(8).toString('hex')}`;
  const raw = body(Date.now() - 60_000, 'First');
  const same = tally(await storm(() => api.shopifyWebhook('customers/create', webhookId, shop.domain, raw)), codeOf);
  const updateIds = Array.from({ length: STORM }, (_, i) => `wh-${randomBytes(6).toString('hex')}-${i}`);
  const distinct = tally(await Promise.all(updateIds.map((id, i) => api.shopifyWebhook('customers/update', id, shop.domain, body(Date.now() - 30_000 + i, `Update${i}`)))), codeOf);
  report.check(`${STORM} identical Shopify webhooks: one stored, the rest acknowledged as duplicates`, same.get('200 received') === 1 && same.get('200 duplicate') === STORM - 1, show(same));
  report.check(`${STORM} distinct Shopify updates of that customer: all stored`, distinct.get('200 received') === STORM, show(distinct));

  const processed = await waitProcessed(db, 'shopify', [webhookId, ...updateIds], deadline);
  const rows = one(await db.$queryRaw`SELECT count(*) AS n FROM webhook_events WHERE provider = 'shopify' AND event_id = ${webhookId}`);
  const contacts = await db.$queryRaw<{ first_name: string | null; shopify_customer_id: string | null }[]>`
    SELECT first_name, shopify_customer_id FROM contacts WHERE shop_id = ${shop.id}::uuid AND (shopify_customer_id = ${customerId} OR phone_e164 = ${phone})`;
  report.check(
    '  … one contact, the newest update wins',
    rows === 1 && contacts.length === 1 && contacts[0]?.first_name === `Update${STORM - 1}` && !processed.has('received') && !processed.has('failed'),
    `${rows} row for the repeated delivery id, ${contacts.length} contact (first name ${contacts[0]?.first_name ?? '-'}); events ${show(processed)}`,
  );
}

export async function r4DuplicateStorms(report: ScenarioReport, o: ScenarioOptions): Promise<void> {
  await withChaosStack(report, { label: 'R4', workers: 1, serverUrl: o.databaseUrl, timeoutMs: 180_000 }, async ({ stack, api, db, deadline }) => {
    // Separate shops: the per-shop rate limit (campaign routes) is not what is under test.
    const shopA = await provisionShop(api, db, 'R4a', AUDIENCE, AUDIENCE * 3);
    const shopB = await provisionShop(api, db, 'R4b', AUDIENCE, AUDIENCE * 3);
    const oneKey = await enqueueSameKey(report, api, db, shopA);
    const manyKeys = await enqueueManyKeys(report, api, db, shopB);
    await stripeStorm(report, api, db, shopA, deadline);
    await shopifyStorm(report, api, db, shopB, deadline);

    // The stormed campaigns still send once each.
    for (const campaignId of [oneKey, manyKeys]) await waitForCampaign(db, campaignId, { deadline, total: AUDIENCE });
    await checkCampaigns(report, {
      db,
      simUrl: stack.urls.simulator,
      campaigns: [
        { id: oneKey, shopId: shopA.id, expectedRecipients: AUDIENCE, label: 'one key' },
        { id: manyKeys, shopId: shopB.id, expectedRecipients: AUDIENCE, label: 'many keys' },
      ],
      sample: 2 * AUDIENCE,
    });
    await checkMoney(report, db, { expectNothingReserved: true });
    await checkNothingToRepair(report, api, [oneKey, manyKeys]);
  });
}
