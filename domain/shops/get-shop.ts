import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';

export interface ShopSettingsRow {
  id: string;
  domain: string;
  status: string;
  timezone: string;
  quiet_hours_start: string;
  quiet_hours_end: string;
  opt_out_footer: boolean;
  sender_id: string;
}

export interface ShopView {
  id: string;
  domain: string;
  status: string;
  timezone: string;
  quietHours: { start: string; end: string };
  optOutFooter: boolean;
  senderId: string;
}

export function toShopView(r: ShopSettingsRow): ShopView {
  return {
    id: r.id,
    domain: r.domain,
    status: r.status,
    timezone: r.timezone,
    quietHours: { start: r.quiet_hours_start, end: r.quiet_hours_end },
    optOutFooter: r.opt_out_footer,
    senderId: r.sender_id,
  };
}

/** GET /api/shop: the authenticated shop and its messaging settings. */
export async function getShop(db: DbOrTx, shopId: string): Promise<ShopView> {
  const [row] = await db.$queryRaw<ShopSettingsRow[]>`
    SELECT id, domain, status, timezone, quiet_hours_start, quiet_hours_end, opt_out_footer, sender_id FROM shops WHERE id = ${shopId}::uuid`;
  if (!row) throw notFound('Shop');
  return toShopView(row);
}
