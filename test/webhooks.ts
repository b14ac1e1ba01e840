import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import Stripe from 'stripe';
import request from 'supertest';
import { signShopifyBody } from '../domain/webhooks/verify-shopify-hmac';
import { signSimulatorPayload } from '../domain/messaging/providers/simulator-signature';
import type { Db } from '../lib/db';
import type { Metrics } from '../lib/metrics';
import { createCampaign, createContact, createShop } from './factories';
import { waitFor } from './sending';

// Builders and senders for signed webhook deliveries, as Stripe, Shopify and
// the SMS provider send them.

export const rid = (prefix: string): string => `${prefix}_${randomBytes(8).toString('hex')}`;

const stripeWebhooks = new Stripe('sk_test_signing_only').webhooks;

export function stripeEvent(type: string, object: Record<string, unknown>, id = rid('evt')): Record<string, unknown> {
  return { id, object: 'event', type, api_version: '2025-01-27', created: Math.floor(Date.now() / 1000), data: { object } };
}

export function sessionObject(sessionId: string, o: { paymentIntent?: string | null; paymentStatus?: string; shopId?: string } = {}): Record<string, unknown> {
  return {
    id: sessionId,
    object: 'checkout.session',
    mode: 'payment',
    payment_status: o.paymentStatus ?? 'paid',
    payment_intent: o.paymentIntent === undefined ? rid('pi') : o.paymentIntent,
    client_reference_id: o.shopId ?? null,
    metadata: o.shopId ? { shopId: o.shopId, packId: 'starter' } : {},
  };
}

/**
 * `refunds`: the refunds the charge lists (expanded, or an API version before 2022-11-15), newest first, by id (a
 * refund as it stands) or with the status it had when Stripe made the event; none by default, as Stripe sends it now.
 */
export function chargeObject(paymentIntent: string, o: { refunded?: boolean; refunds?: (string | { id: string; status: string })[] } = {}): Record<string, unknown> {
  return {
    id: rid('ch'),
    object: 'charge',
    payment_intent: paymentIntent,
    amount: 1000,
    amount_refunded: 1000,
    refunded: o.refunded ?? true,
    ...(o.refunds ? { refunds: { object: 'list', data: o.refunds.map((r) => (typeof r === 'string' ? { id: r, object: 'refund' } : { ...r, object: 'refund' })) } } : {}),
  };
}

export function disputeObject(paymentIntent: string, status: string, o: { id?: string; amount?: number } = {}): Record<string, unknown> {
  return { id: o.id ?? rid('dp'), object: 'dispute', charge: rid('ch'), payment_intent: paymentIntent, amount: o.amount ?? 1000, currency: 'usd', reason: 'fraudulent', status };
}

/** A Refund as `charge.refund.updated` carries it; `created`: when Stripe made the refund (seconds), left out unless given. */
export function refundObject(paymentIntent: string, status: string, o: { id?: string; created?: number } = {}): Record<string, unknown> {
  return {
    id: o.id ?? rid('re'),
    object: 'refund',
    amount: 1000,
    charge: rid('ch'),
    currency: 'usd',
    payment_intent: paymentIntent,
    status,
    ...(o.created === undefined ? {} : { created: o.created }),
    ...(status === 'failed' ? { failure_reason: 'expired_or_canceled_card' } : {}),
  };
}

export function postStripe(app: Express, event: Record<string, unknown> | string, o: { secret?: string; timestamp?: number; header?: string | null } = {}) {
  const payload = typeof event === 'string' ? event : JSON.stringify(event);
  const header =
    o.header === undefined
      ? stripeWebhooks.generateTestHeaderString({ payload, secret: o.secret ?? process.env.STRIPE_WEBHOOK_SECRET!, timestamp: o.timestamp })
      : o.header;
  const req = request(app).post('/webhooks/stripe').set('Content-Type', 'application/json');
  if (header !== null) req.set('Stripe-Signature', header);
  return req.send(payload);
}

export function postShopify(
  app: Express,
  topic: string,
  body: Record<string, unknown> | string,
  o: { shopDomain?: string; webhookId?: string; secret?: string; hmac?: string } = {},
) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const req = request(app)
    .post('/webhooks/shopify')
    .set('Content-Type', 'application/json')
    .set('X-Shopify-Topic', topic)
    .set('X-Shopify-Webhook-Id', o.webhookId ?? rid('wh'))
    .set('X-Shopify-Hmac-Sha256', o.hmac ?? signShopifyBody(o.secret ?? process.env.SHOPIFY_API_SECRET!, raw));
  if (o.shopDomain) req.set('X-Shopify-Shop-Domain', o.shopDomain);
  return req.send(raw);
}

/**
 * Posts a signed Shopify webhook and waits until its stored event is handled:
 * its final status, or `gone` for an event its own processing erased
 * (shop/redact deletes it).
 */
export async function deliverShopify(app: Express, db: Db, topic: string, body: Record<string, unknown>, shopDomain: string): Promise<string> {
  const webhookId = rid('wh');
  const res = await postShopify(app, topic, body, { shopDomain, webhookId });
  if (res.status !== 200) throw new Error(`${topic} answered ${res.status}`);
  let status = '';
  await waitFor(`${topic} settled`, async () => {
    status = (await webhookEvent(db, 'shopify', webhookId))?.status ?? 'gone';
    return status !== 'received';
  });
  return status;
}

/** Waits until Stripe event `eventId` has been processed (any status past `received`) and returns that status. */
export async function stripeEventSettled(db: Db, eventId: string): Promise<string> {
  let status = '';
  await waitFor(`stripe event ${eventId} settled`, async () => {
    status = (await webhookEvent(db, 'stripe', eventId))?.status ?? '';
    return status !== '' && status !== 'received';
  });
  return status;
}

export function postSimulator(app: Express, kind: 'status' | 'inbound', body: Record<string, unknown> | string, o: { secret?: string; t?: number; signature?: string | null } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const req = request(app).post(`/webhooks/sms/simulator/${kind}`).set('Content-Type', 'application/json');
  const signature = o.signature === undefined ? signSimulatorPayload(o.secret ?? process.env.SMS_WEBHOOK_SECRET!, raw, o.t) : o.signature;
  if (signature !== null) req.set('X-Simulator-Signature', signature);
  return req.send(raw);
}

export async function counterValue(metrics: Metrics, name: keyof Metrics, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics[name] as unknown as { get(): Promise<{ values: { value: number; labels: Record<string, string | number> }[] }> };
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l)).reduce((s, v) => s + v.value, 0);
}

export interface EventRow {
  id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  shop_id: string | null;
  processed_at: Date | null;
}

export async function webhookEvent(db: Db, provider: string, eventId: string): Promise<EventRow | undefined> {
  const [row] = await db.$queryRaw<EventRow[]>`
    SELECT id, status, attempts, last_error, shop_id, processed_at FROM webhook_events WHERE provider = ${provider} AND event_id = ${eventId}`;
  return row;
}

/** `n` recipients of one new campaign (and shop), sent, each with its provider id. */
export async function sentRecipients(db: Db, n: number): Promise<{ id: string; pmid: string; shopId: string }[]> {
  const shop = await createShop(db);
  const campaign = await createCampaign(db, shop.id, { status: 'sending' });
  const out: { id: string; pmid: string; shopId: string }[] = [];
  for (let i = 0; i < n; i++) {
    const contact = await createContact(db, shop.id);
    const pmid = rid('msg');
    const [row] = await db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
      VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sent', ${pmid}, 1::smallint, now())
      RETURNING id`;
    out.push({ id: String(row!.id), pmid, shopId: shop.id });
  }
  return out;
}

export interface ReportHolder extends EventRow {
  topic: string;
  next_attempt_at: Date | null;
}

/**
 * The inbox rows that hold a delivery report (`<id>:<status>`): a row of its
 * own, or a `status-batch` row (a batched callback, a group of single
 * reports, a rebatched waiting part) whose reports include it; oldest first.
 */
export async function reportHolders(db: Db, provider: string, eventId: string): Promise<ReportHolder[]> {
  const cut = eventId.lastIndexOf(':');
  const member = JSON.stringify([{ id: eventId.slice(0, cut), status: eventId.slice(cut + 1) }]);
  return db.$queryRaw<ReportHolder[]>`
    SELECT id, topic, status, attempts, last_error, shop_id, processed_at, next_attempt_at FROM webhook_events
     WHERE provider = ${provider} AND (event_id = ${eventId} OR (topic = 'status-batch' AND payload->'reports' @> ${member}::jsonb))
     ORDER BY received_at, id`;
}

/** Where a delivery report stands: '' while a row holding it is still `received`, else the last holder's outcome. */
export async function reportOutcome(db: Db, provider: string, eventId: string): Promise<string> {
  const rows = await reportHolders(db, provider, eventId);
  if (rows.length === 0 || rows.some((r) => r.status === 'received')) return '';
  // A report split out of a batch ends on its own row; the batch's `processed` only says it was split.
  return (rows.find((r) => r.topic === 'status') ?? rows[rows.length - 1]!).status;
}

export async function wallet(db: Db, shopId: string): Promise<{ balance: number; reserved: number }> {
  const [w] = await db.$queryRaw<{ balance: bigint; reserved: bigint }[]>`SELECT balance, reserved FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
  return { balance: Number(w?.balance ?? 0), reserved: Number(w?.reserved ?? 0) };
}

/** A shop's ledger in its order, as [key, type, amount] rows (the refund tests compare them exactly). */
export async function ledgerRows(db: Db, shopId: string): Promise<[string, string, number][]> {
  const rows = await db.$queryRaw<{ idempotency_key: string; type: string; amount: bigint }[]>`
    SELECT idempotency_key, type, amount FROM credit_transactions WHERE shop_id = ${shopId}::uuid ORDER BY ledger_seq`;
  return rows.map((r) => [r.idempotency_key, r.type, Number(r.amount)]);
}

/** Where a Stripe purchase stands. */
export async function purchaseState(db: Db, sessionId: string): Promise<{ status: string; refund_shortfall: bigint; failed_refund_ids: string[] }> {
  const [p] = await db.$queryRaw<{ status: string; refund_shortfall: bigint; failed_refund_ids: string[] }[]>`
    SELECT status, refund_shortfall, failed_refund_ids FROM purchases WHERE stripe_session_id = ${sessionId}`;
  return p!;
}

/** Every text, varchar, jsonb and text[] column of every table, as (table, column) pairs. */
export async function textColumns(db: Db): Promise<{ table: string; column: string }[]> {
  return db.$queryRaw<{ table: string; column: string }[]>`
    SELECT c.table_name AS "table", c.column_name AS "column"
      FROM information_schema.columns c JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
     WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
       AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json') OR (c.data_type = 'ARRAY' AND c.udt_name = '_text'))
     ORDER BY 1, 2`;
}

/** (table, column) pairs whose value contains any needle (case-insensitive). */
export async function findEverywhere(db: Db, needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const { table, column } of await textColumns(db)) {
    if (!/^[a-z0-9_]+$/.test(table) || !/^[a-z0-9_]+$/.test(column)) throw new Error(`unexpected name ${table}.${column}`);
    for (const needle of needles) {
      const [row] = await db.$queryRawUnsafe<{ n: bigint }[]>(
        `SELECT count(*) AS n FROM "${table}" WHERE strpos(lower("${column}"::text), lower($1)) > 0`,
        needle,
      );
      if (Number(row!.n) > 0) hits.push(`${table}.${column} ∋ ${needle}`);
    }
  }
  return hits;
}

/** Tables with any row whose whole-row text contains a needle (shop id, domain). */
export async function rowsMentioning(db: Db, needles: string[]): Promise<string[]> {
  const tables = await db.$queryRaw<{ name: string }[]>`
    SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`;
  const hits: string[] = [];
  for (const { name } of tables) {
    if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected table name ${name}`);
    for (const needle of needles) {
      const [row] = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM "${name}" t WHERE strpos(lower(t::text), lower($1)) > 0`, needle);
      if (Number(row!.n) > 0) hits.push(`${name} ∋ ${needle} (${Number(row!.n)})`);
    }
  }
  return hits;
}
