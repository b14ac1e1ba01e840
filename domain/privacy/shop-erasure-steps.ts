import { raw, sql, type Sql, type Tx } from '../../lib/db';

/**
 * One table's share of a shop erasure: the shop's rows of it, found through
 * an index (test/db/foreign-key-indexes.int.test.ts keeps every foreign key
 * indexed, so the cascades of these deletes probe rather than scan). A
 * deleted flow's history is deleted by the same kind of step, keyed by the
 * flow (domain/flows/flow-deletion-steps.ts).
 */
export interface ErasureStep {
  table: string;
  /** The rows of the owner (the shop, or the deleted flow) this step deletes. */
  rows: (ownerId: string) => Sql;
  /** Touches contact_consent_records, directly or by cascade: the one deletion that append-only table accepts. */
  consent?: boolean;
}

const ofShop = (shopId: string): Sql => sql`shop_id = ${shopId}::uuid`;
// campaign_recipients and campaign_batches carry no shop_id: their campaign's does, and (campaign_id, …) is their index.
const ofCampaigns = (shopId: string): Sql => sql`campaign_id = ANY(ARRAY(SELECT id FROM campaigns WHERE shop_id = ${shopId}::uuid))`;
const ofFlows = (shopId: string): Sql => sql`flow_id = ANY(ARRAY(SELECT id FROM flows WHERE shop_id = ${shopId}::uuid))`;
const ofImports = (shopId: string): Sql => sql`import_id = ANY(ARRAY(SELECT id FROM contact_imports WHERE shop_id = ${shopId}::uuid))`;

/**
 * Children before parents, the big tables one chunk at a time, so that when
 * a parent goes its cascades and statement triggers find nothing left to do:
 * deleting a campaign deletes its recipients in one statement (trigger
 * campaigns_delete_recipients), a flow run its messages (flow_runs_delete_messages),
 * a contact its send slot (contacts_drop_send_slots, per chunk: cheap) and
 * its consent records, clicks, attributions and runs (foreign keys).
 */
export const ERASURE_STEPS: readonly ErasureStep[] = [
  // They name campaigns, flow messages and contacts: first, so no SET NULL runs for them later.
  { table: 'order_attributions', rows: ofShop },
  // A campaign's counters go before its clicks, so no counter disagrees with the clicks left.
  { table: 'campaign_click_counts', rows: ofCampaigns },
  { table: 'link_clicks', rows: ofShop },
  { table: 'campaign_recipients', rows: ofCampaigns },
  { table: 'campaign_batches', rows: ofCampaigns },
  { table: 'flow_messages', rows: ofFlows },
  { table: 'flow_runs', rows: ofFlows },
  { table: 'shopify_consent_writebacks', rows: ofShop },
  { table: 'contact_consent_records', rows: ofShop, consent: true },
  { table: 'shopify_checkouts', rows: ofShop },
  { table: 'shopify_refund_transactions', rows: ofShop },
  { table: 'shopify_orders', rows: ofShop },
  // Audience stats are decremented per chunk by their trigger; the stats rows go later.
  { table: 'contacts', rows: ofShop, consent: true },
  // The wallet before its ledger: reconciliation compares every wallet with
  // the sum of its ledger, and a half-deleted ledger must not look like a mismatch.
  { table: 'credit_wallets', rows: ofShop },
  { table: 'credit_transactions', rows: ofShop },
  // After the ledger: deleting ledger rows voids the shop's checkpoint, which writes it.
  { table: 'credit_ledger_checkpoints', rows: ofShop },
  { table: 'credit_reservations', rows: ofShop },
  { table: 'purchases', rows: ofShop },
  { table: 'stripe_disputes', rows: ofShop },
  { table: 'stripe_refund_failures', rows: ofShop },
  // Before the campaigns: some rows name the shop only through a campaign id. No index: the table is pruned.
  {
    table: 'outbox_events',
    rows: (shopId) => sql`(payload->>'shopId' = ${shopId}::text OR aggregate_id IN (SELECT id::text FROM campaigns WHERE shop_id = ${shopId}::uuid))`,
  },
  { table: 'campaigns', rows: ofShop },
  // Their versions go by cascade (a flow's current version cannot go before it).
  { table: 'flows', rows: ofShop },
  { table: 'contact_import_rows', rows: ofImports },
  { table: 'contact_import_rejections', rows: ofImports },
  { table: 'contact_imports', rows: ofShop },
  { table: 'idempotency_keys', rows: ofShop },
  { table: 'privacy_requests', rows: ofShop },
  { table: 'inbound_messages', rows: ofShop },
  { table: 'keyword_replies', rows: ofShop },
  { table: 'sms_suppressions', rows: ofShop },
  { table: 'shop_syncs', rows: ofShop },
  { table: 'audience_stats', rows: ofShop },
  { table: 'stripe_customers', rows: ofShop },
  { table: 'shop_access_tokens', rows: ofShop },
  { table: 'webhook_events', rows: ofShop },
];

/**
 * Deletes up to `limit` of the owner's rows of the step's table. By ctid, so
 * one statement shape serves every table whatever its key; a row updated
 * meanwhile has a new ctid and is left for the next chunk.
 */
export async function deleteStepChunk(tx: Tx, step: ErasureStep, ownerId: string, limit: number): Promise<number> {
  const table = raw(`"${step.table}"`);
  return tx.$executeRaw`
    DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${step.rows(ownerId)} LIMIT ${limit}::int))`;
}
