import type { DbOrTx } from '../../lib/db';

export type ShopSyncStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface ShopSyncRow {
  id: string;
  shop_id: string;
  status: ShopSyncStatus;
  reason: 'install' | 'resync';
  bulk_operation_id: string | null;
  bulk_status: string | null;
  bulk_error_code: string | null;
  bulk_finished_via: 'webhook' | 'poll' | null;
  polls: number;
  throttled_waits: number;
  attempts: number;
  lines_applied: bigint;
  customers_seen: number;
  contacts_created: number;
  contacts_updated: number;
  contacts_unchanged: number;
  skipped_no_phone: number;
  invalid_phone: number;
  subscribed: number;
  opted_out: number;
  claim_token: string | null;
  lease_until: Date | null;
  error: string | null;
  trace_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

/** The sync as the API shows it (GET/POST /api/shop/sync). */
export interface ShopSyncView {
  id: string;
  status: ShopSyncStatus;
  reason: 'install' | 'resync';
  counts: {
    customersSeen: number;
    contactsCreated: number;
    contactsUpdated: number;
    contactsUnchanged: number;
    skippedNoPhone: number;
    invalidPhone: number;
    subscribed: number;
    optedOut: number;
  };
  /** How the end of Shopify's bulk export was learnt: its webhook, or polling. */
  exportFinishedVia: 'webhook' | 'poll' | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export function toShopSyncView(r: ShopSyncRow): ShopSyncView {
  return {
    id: r.id,
    status: r.status,
    reason: r.reason,
    counts: {
      customersSeen: r.customers_seen,
      contactsCreated: r.contacts_created,
      contactsUpdated: r.contacts_updated,
      contactsUnchanged: r.contacts_unchanged,
      skippedNoPhone: r.skipped_no_phone,
      invalidPhone: r.invalid_phone,
      subscribed: r.subscribed,
      optedOut: r.opted_out,
    },
    exportFinishedVia: r.bulk_finished_via,
    error: r.error,
    createdAt: r.created_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}

/** The shop's newest sync, or null when it never had one. */
export async function getLatestShopSync(db: DbOrTx, shopId: string): Promise<ShopSyncRow | null> {
  const [row] = await db.$queryRaw<ShopSyncRow[]>`
    SELECT * FROM shop_syncs WHERE shop_id = ${shopId}::uuid ORDER BY created_at DESC, id DESC LIMIT 1`;
  return row ?? null;
}

export async function getShopSync(db: DbOrTx, syncId: string): Promise<ShopSyncRow | null> {
  const [row] = await db.$queryRaw<ShopSyncRow[]>`SELECT * FROM shop_syncs WHERE id = ${syncId}::uuid`;
  return row ?? null;
}
