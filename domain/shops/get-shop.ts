import { raw, type DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import { floorLeavesNoSendTime } from '../compliance/send-time';

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
  smart_sending_enabled: boolean;
  smart_sending_window_hours: number;
}

/** The columns a ShopSettingsRow is read from (GET and PATCH answer the same view). */
export const SHOP_SETTINGS_COLUMNS =
  'id, domain, status, timezone, quiet_hours_start, quiet_hours_end, opt_out_footer, sender_id, click_window_hours, view_window_hours, smart_sending_enabled, smart_sending_window_hours';

/** The legal floor under the shop's quiet hours (recipient-quiet-hours.ts), shown with them. */
const LEGAL_FLOOR_VIEW = { start: '21:00', end: '08:00', appliesTo: ['US', 'CA'] } as const;

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
  /** A contact who received a campaign message within windowHours is skipped by the next campaign (unless it ignores smart sending). */
  smartSending: { enabled: boolean; windowHours: number };
  /**
   * Read-only: US and Canadian numbers are never texted inside this window of
   * their local time, whatever quietHours says (the shop may widen quiet hours, not narrow them below it).
   */
  legalQuietHours: typeof LEGAL_FLOOR_VIEW;
  /**
   * Read-only, null when all is well. The setting is kept either way (a shop
   * that texts no US/CA numbers may want it); this says what it costs.
   */
  quietHoursWarning: QuietHoursWarning | null;
}

export interface QuietHoursWarning {
  /** quietHours and legalQuietHours together cover the whole day: no US or Canadian number can ever be texted. */
  code: 'NO_SENDING_TIME_FOR_US_CA';
  message: string;
}

/** The warning for a quiet window that leaves US/CA numbers no sending time, else null. */
export function quietHoursWarningFor(quietHours: { start: string; end: string }, now: Date): QuietHoursWarning | null {
  if (!floorLeavesNoSendTime(quietHours, now)) return null;
  return {
    code: 'NO_SENDING_TIME_FOR_US_CA',
    message: `Quiet hours ${quietHours.start}–${quietHours.end} together with the legal window for US and Canadian numbers (no texts ${LEGAL_FLOOR_VIEW.start}–${LEGAL_FLOOR_VIEW.end} local time) cover the whole day: US and Canadian numbers are never texted, and every campaign or flow message to them is skipped (quiet_hours).`,
  };
}

/** `now`: the api's clock (deps.now), which the quiet-hours warning is read at. */
export function toShopView(r: ShopSettingsRow, now: Date): ShopView {
  const quietHours = { start: r.quiet_hours_start, end: r.quiet_hours_end };
  return {
    id: r.id,
    domain: r.domain,
    status: r.status,
    timezone: r.timezone,
    quietHours,
    optOutFooter: r.opt_out_footer,
    senderId: r.sender_id,
    attribution: { clickWindowHours: r.click_window_hours, viewWindowHours: r.view_window_hours },
    smartSending: { enabled: r.smart_sending_enabled, windowHours: r.smart_sending_window_hours },
    legalQuietHours: LEGAL_FLOOR_VIEW,
    quietHoursWarning: quietHoursWarningFor(quietHours, now),
  };
}

/** GET /api/shop: the authenticated shop and its messaging settings. */
export async function getShop(db: DbOrTx, shopId: string, now: Date): Promise<ShopView> {
  const [row] = await db.$queryRaw<ShopSettingsRow[]>`SELECT ${raw(SHOP_SETTINGS_COLUMNS)} FROM shops WHERE id = ${shopId}::uuid`;
  if (!row) throw notFound('Shop');
  return toShopView(row, now);
}
