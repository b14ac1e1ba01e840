import type { Db } from '../lib/db';

// A shop with rows in every table that holds shop data, written set-based so
// the same code seeds a test's handful and a measurement's hundreds of
// thousands (scripts/measure-shop-erasure.ts). Rows are consistent with the
// schema's CHECKs and triggers (audience stats, click counters and consent
// records come from the triggers, as in production), not with a real send.

export interface ShopDataSize {
  contacts: number;
  /** Campaigns, each sent to every contact (recipients in batches of 1 000). */
  campaigns?: number;
  /** Clicks per contact on the first campaign (the first of each is its recipient's first click). */
  clicksPerContact?: number;
  /** One contact in this many has a flow run with a delivered message, a flow click and an attributed order. */
  flowEvery?: number;
}

export interface SeededIds {
  campaignIds: string[];
  flowIds: string[];
  importIds: string[];
}

const uniq = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

export async function seedShopData(db: Db, shopId: string, size: ShopDataSize): Promise<SeededIds> {
  const n = size.contacts;
  const campaigns = size.campaigns ?? 1;
  const clicks = size.clicksPerContact ?? 2;
  const flowEvery = size.flowEvery ?? 4;
  const tag = uniq();
  const run = (q: TemplateStringsArray, ...v: unknown[]) => db.$executeRaw(q, ...v);
  const long = { timeout: 600_000 };

  await db.$transaction(async (tx) => {
    // Declared like an import, so the consent-record trigger writes one record per contact.
    await tx.$queryRaw`SELECT set_config('app.consent_context', ${JSON.stringify({ source: 'import', evidence: { seeded: tag } })}, true)`;
    await tx.$executeRaw`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, tags, shopify_customer_id)
      SELECT ${shopId}::uuid, p, encode(sha256(p::bytea), 'hex'), 'c' || g || '@seed.example.test', 'Friend' || g, 'Seed',
             'subscribed', ARRAY['vip', 't' || (g % 5)], ${tag} || '-' || g
        FROM generate_series(1, ${n}::int) g, LATERAL (SELECT '+1' || (2012000000 + g)::text AS p) x`;
  }, long);

  const campaignIds = (
    await db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status, segments_per_message, total_recipients, started_at, completed_at)
      SELECT ${shopId}::uuid, 'Seeded ' || g, 'Hi {{firstName}}', 'completed', 1, ${n}::int, now(), now()
        FROM generate_series(1, ${campaigns}::int) g
      RETURNING id`
  ).map((r) => r.id);
  for (const campaignId of campaignIds) {
    await db.$transaction(async (tx) => {
      await tx.$executeRaw`
        INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
        SELECT ${campaignId}::uuid, c.id, (row_number() OVER (ORDER BY c.id) - 1)::int / 1000, 'delivered', 'pm-' || gen_random_uuid(), 1, now(), now()
          FROM contacts c WHERE c.shop_id = ${shopId}::uuid ORDER BY c.id`;
      await tx.$executeRaw`
        INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status, sent)
        SELECT campaign_id, batch_no, count(*)::int, 'done', count(*)::int FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid GROUP BY campaign_id, batch_no`;
    }, long);
  }
  const first = campaignIds[0]!;
  // Clicks on the first campaign; its counters come from the insert trigger.
  await run`
    INSERT INTO link_clicks (id, shop_id, campaign_id, recipient_id, contact_id, link_index, clicked_at, ua_class, bot, first)
    SELECT gen_random_uuid(), ${shopId}::uuid, r.campaign_id, r.id, r.contact_id, 0, now() - interval '1 hour', 'ios', false, k = 1
      FROM campaign_recipients r, generate_series(1, ${clicks}::int) k
     WHERE r.campaign_id = ${first}::uuid`;
  await run`
    INSERT INTO contact_send_slots (contact_id, shop_id, campaign_id, last_at)
    SELECT id, shop_id, ${first}::uuid, now() FROM contacts WHERE shop_id = ${shopId}::uuid`;
  await run`
    INSERT INTO shopify_orders (shop_id, order_id, customer_id, contact_id, total_minor, currency, ordered_at)
    SELECT shop_id, 'o-' || shopify_customer_id, shopify_customer_id, id, 2500, 'USD', now()
      FROM contacts WHERE shop_id = ${shopId}::uuid`;
  await run`
    INSERT INTO shopify_refund_transactions (shop_id, order_id, transaction_id, refund_id, currency, amount_minor, status)
    SELECT shop_id, order_id, 't-' || order_id, 'r-' || order_id, currency, 500, 'success' FROM shopify_orders WHERE shop_id = ${shopId}::uuid`;
  await run`
    INSERT INTO shopify_checkouts (shop_id, token, customer_id, contact_id, phone_e164, phone_hash, shopify_updated_at)
    SELECT shop_id, 'ck-' || shopify_customer_id, shopify_customer_id, id, phone_e164, phone_hash, now()
      FROM contacts WHERE shop_id = ${shopId}::uuid`;
  // The consent-record trigger queued a write-back per contact (they are Shopify customers); most were written.
  await run`UPDATE shopify_consent_writebacks SET status = 'done' WHERE shop_id = ${shopId}::uuid`;
  await run`UPDATE outbox_events SET published_at = now() WHERE event_type = 'contact.consent-writeback.v1' AND payload->>'shopId' = ${shopId}::text`;

  // A flow with a current version (its versions go only with it), runs, delivered messages, their clicks and orders.
  const [flow] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO flows (shop_id, name, trigger_type, status) VALUES (${shopId}::uuid, 'Seeded flow', 'order_created', 'draft') RETURNING id`;
  const [version] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${flow!.id}::uuid, ${shopId}::uuid, 1, '[]'::jsonb) RETURNING id`;
  await run`UPDATE flows SET current_version_id = ${version!.id}::uuid, status = 'paused' WHERE id = ${flow!.id}::uuid`;
  await run`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, ended_at)
    SELECT ${flow!.id}::uuid, ${version!.id}::uuid, shop_id, id, 'order_created', 'o-' || shopify_customer_id, now(), 'completed', now()
      FROM contacts WHERE shop_id = ${shopId}::uuid AND ('x' || substr(phone_hash, 1, 8))::bit(32)::int % ${flowEvery}::int = 0`;
  await run`
    INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, segments, encoding, credits, provider_message_id, sent_at, delivered_at, final_at)
    SELECT id, 0, shop_id, flow_id, version_id, contact_id, 'delivered', 1, 'GSM-7', 1, 'fm-' || id, now(), now(), now()
      FROM flow_runs WHERE flow_id = ${flow!.id}::uuid`;
  await run`
    INSERT INTO link_clicks (id, shop_id, flow_id, flow_message_id, step, contact_id, link_index, clicked_at, ua_class, bot, first)
    SELECT gen_random_uuid(), shop_id, flow_id, id, 0, contact_id, 0, now(), 'android', false, true FROM flow_messages WHERE flow_id = ${flow!.id}::uuid`;
  await run`
    INSERT INTO order_attributions (shop_id, order_id, flow_id, flow_message_id, contact_id, kind, total_minor, currency, ordered_at)
    SELECT m.shop_id, o.order_id, m.flow_id, m.id, m.contact_id, 'view', o.total_minor, o.currency, o.ordered_at
      FROM flow_messages m JOIN shopify_orders o ON o.shop_id = m.shop_id AND o.contact_id = m.contact_id
     WHERE m.flow_id = ${flow!.id}::uuid`;
  await run`
    INSERT INTO order_attributions (shop_id, order_id, campaign_id, contact_id, kind, total_minor, currency, ordered_at)
    SELECT o.shop_id, o.order_id, ${first}::uuid, o.contact_id, 'view', o.total_minor, o.currency, o.ordered_at
      FROM shopify_orders o WHERE o.shop_id = ${shopId}::uuid
    ON CONFLICT DO NOTHING`;

  // Money: the wallet equals its ledger; a closed reservation of the first campaign.
  await run`
    INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, reference, ledger_seq)
    SELECT shop_id, 'purchase', 500, balance + 500, ${`seed-${tag}`}, 'seed', ledger_seq + 1 FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
  await run`UPDATE credit_wallets SET balance = balance + 500, ledger_seq = ledger_seq + 1 WHERE shop_id = ${shopId}::uuid`;
  // What a reconciliation pass keeps of the ledger it has summed.
  await run`
    INSERT INTO credit_ledger_checkpoints (shop_id, ledger_seq, ledger_sum)
    SELECT shop_id, ledger_seq, balance FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
  await run`
    INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount, consumed, released, status)
    VALUES (${shopId}::uuid, ${first}::uuid, ${`campaign-${first}`}, 10, 10, 0, 'closed')`;
  await run`
    INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency, status)
    VALUES (${shopId}::uuid, ${`cs_seed_${tag}`}, 'starter', 500, 1000, 'usd', 'paid')`;
  await run`
    INSERT INTO stripe_disputes (stripe_dispute_id, stripe_payment_intent_id, shop_id, status, held_at, closed_at)
    VALUES (${`dp_seed_${tag}`}, ${`pi_seed_${tag}`}, ${shopId}::uuid, 'won', now(), now())`;
  await run`
    INSERT INTO stripe_refund_failures (stripe_refund_id, stripe_payment_intent_id, shop_id, status, failed_at)
    VALUES (${`re_seed_${tag}`}, ${`pi_seed_${tag}`}, ${shopId}::uuid, 'restored', now())`;
  await run`INSERT INTO stripe_customers (shop_id, stripe_customer_id) VALUES (${shopId}::uuid, ${`cus_seed_${tag}`})`;

  // An import in flight, with a staged row and a rejection.
  const [imp] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO contact_imports (shop_id, status, total, processed, rejected_count) VALUES (${shopId}::uuid, 'running', 3, 1, 1) RETURNING id`;
  await run`INSERT INTO contact_import_rows (import_id, row_index, data) VALUES (${imp!.id}::uuid, 1, '{"phone":"+12015550100"}'::jsonb)`;
  await run`INSERT INTO contact_import_rejections (import_id, row_index, code, message) VALUES (${imp!.id}::uuid, 0, 'INVALID_PHONE', 'not a number')`;

  // The rest, a row or two each.
  await run`
    INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, locked_until, expires_at)
    VALUES (${shopId}::uuid, 'POST', '/api/contacts', ${`seed-${tag}`}, 'f', now(), now() + interval '1 day')`;
  await run`INSERT INTO privacy_requests (shop_id, kind, data) VALUES (${shopId}::uuid, 'data_request', '{"contacts": 1}'::jsonb)`;
  await run`
    INSERT INTO inbound_messages (shop_id, provider, provider_message_id, from_phone, from_hash, to_number, text, keyword)
    VALUES (${shopId}::uuid, 'sms-simulator', ${`in-${tag}`}, '+12012000001', encode(sha256('+12012000001'::bytea), 'hex'), 'Marketing', 'STOP', 'STOP')`;
  await run`
    INSERT INTO keyword_replies (provider, inbound_message_id, shop_id, keyword, scope, sender, to_hash, to_hmac, body, status, final_at)
    VALUES ('sms-simulator', ${`in-${tag}`}, ${shopId}::uuid, 'STOP', 'shop', 'Marketing', 'h', 'h', 'You are unsubscribed', 'suppressed', now())`;
  await run`
    INSERT INTO sms_suppressions (phone_hmac, scope, shop_id, opted_out_at)
    VALUES (encode(sha256(${`suppressed-${tag}`}::bytea), 'hex'), 'shop:' || ${shopId}::text, ${shopId}::uuid, now())`;
  await run`INSERT INTO shop_syncs (shop_id, status, reason, finished_at) VALUES (${shopId}::uuid, 'completed', 'install', now())`;
  await run`INSERT INTO shop_access_tokens (shop_id, scopes) VALUES (${shopId}::uuid, 'read_customers')`;
  await run`
    INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload, status)
    VALUES ('shopify', ${`seed-${tag}`}, 'customers/create', ${shopId}::uuid, '{"id": 1}'::jsonb, 'processed')`;
  await run`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, published_at)
    VALUES ('campaign.completed.v1', ${first}, jsonb_build_object('campaignId', ${first}::text), now()),
           ('shop.sync.v1', ${shopId}::text, jsonb_build_object('shopId', ${shopId}::text), now())`;

  await db.$executeRawUnsafe('ANALYZE');
  return { campaignIds, flowIds: [flow!.id], importIds: [imp!.id] };
}

/**
 * Every table with a shop_id column (read from the catalog, so a table added
 * later is counted too) and the ones that reach the shop only through a
 * campaign, a flow, an import or a payload: how many rows of the shop each
 * holds, leaving out the tables with none.
 */
export async function shopRowCounts(db: Db, shopId: string, ids: SeededIds): Promise<Record<string, number>> {
  const tables = await db.$queryRaw<{ table: string }[]>`
    SELECT c.relname AS table FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace s ON s.oid = c.relnamespace
     WHERE s.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'shop_id' AND NOT a.attisdropped ORDER BY 1`;
  const counts: Record<string, number> = {};
  const put = (table: string, n: bigint | number): void => {
    if (Number(n) > 0) counts[table] = Number(n);
  };
  for (const { table } of tables) {
    if (!/^[a-z_]+$/.test(table)) throw new Error(`unexpected table name ${table}`);
    const [row] = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM "${table}" WHERE shop_id = $1::uuid`, shopId);
    put(table, row!.n);
  }
  const [shop] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM shops WHERE id = ${shopId}::uuid`;
  put('shops', shop!.n);
  const [r] = await db.$queryRaw<{ recipients: bigint; batches: bigint; staged: bigint; rejections: bigint; versions: bigint; outbox: bigint }[]>`
    SELECT (SELECT count(*) FROM campaign_recipients WHERE campaign_id = ANY(${ids.campaignIds}::uuid[])) AS recipients,
           (SELECT count(*) FROM campaign_batches WHERE campaign_id = ANY(${ids.campaignIds}::uuid[])) AS batches,
           (SELECT count(*) FROM contact_import_rows WHERE import_id = ANY(${ids.importIds}::uuid[])) AS staged,
           (SELECT count(*) FROM contact_import_rejections WHERE import_id = ANY(${ids.importIds}::uuid[])) AS rejections,
           (SELECT count(*) FROM flow_versions WHERE flow_id = ANY(${ids.flowIds}::uuid[])) AS versions,
           (SELECT count(*) FROM outbox_events WHERE payload->>'shopId' = ${shopId}::text OR aggregate_id = ANY(${[shopId, ...ids.campaignIds]}::text[])) AS outbox`;
  put('campaign_recipients (by campaign)', r!.recipients);
  put('campaign_batches (by campaign)', r!.batches);
  put('contact_import_rows (by import)', r!.staged);
  put('contact_import_rejections (by import)', r!.rejections);
  put('flow_versions (by flow)', r!.versions);
  put('outbox_events (by payload)', r!.outbox);
  return counts;
}
