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
  click_window_hours: number;
  view_window_hours: number;
}

export interface ShopView {
  id: string;
  domain: string;
  status: string;
  timezone: string;
  quietHours: { start: string; end: string };
  optOutFooter: boolean;
  senderId: string;
  /** An order goes to the campaign last clicked within clickWindowHours, else the one last delivered within viewWindowHours (0: never by delivery alone). */
  attribution: { clickWindowHours: number; viewWindowHours: number };
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
    attribution: { clickWindowHours: r.click_window_hours, viewWindowHours: r.view_window_hours },
  };
}

/** GET /api/shop: the authenticated shop and its messaging settings. */
export async function getShop(db: DbOrTx, shopId: string): Promise<ShopView> {
  const [row] = await db.$queryRaw<ShopSettingsRow[]>`
    SELECT id, domain, status, timezone, quiet_hours_start, quiet_hours_end, opt_out_footer, sender_id, click_window_hours, view_window_hours FROM shops WHERE id = ${shopId}::uuid`;
  if (!row) throw notFound('Shop');
  return toShopView(row);
}
