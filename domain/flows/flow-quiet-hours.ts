import { recipientQuietEnd, type QuietHoursShop } from '../compliance/recipient-quiet-hours';
import type { QuietWindow } from '../compliance/quiet-hours';
import { recipientZones, type RecipientZones } from '../compliance/recipient-time-zone';

// A flow send step's quiet hours: the shop's window in the recipient's zones
// and the US/CA floor in theirs (recipient-quiet-hours.ts). The two may never
// share an open instant — a shop quiet all day (07:00–22:00) and the floor's
// 21:00–08:00, or the floor across an unknown area code's six zones against a
// shop window read in a far zone — and the step used to be deferred to
// wherever the search's hops stopped, still quiet, then again, forever: a run
// re-claimed every few days that never sent nor ended. Here the search goes
// on to a bound: the first instant both allow, or `never`, and the step ends.

/** How far ahead a send step looks for an instant its quiet hours allow (a week of daily windows, and a day of DST shifts). */
export const SEND_TIME_HORIZON_MS = 8 * 24 * 3_600_000;

/** Searches per answer at most; past it the step is deferred to where the search got (progress, re-asked when due). */
const MAX_SEARCHES = 200;

/** null: send now; a Date: defer to it (the first instant quiet hours allow); `never`: none within SEND_TIME_HORIZON_MS. */
export type SendTime = Date | null | 'never';

/** The first instant at or after `now` that no quiet window of the recipient covers, within the horizon. */
export function firstSendTime(now: Date, rz: RecipientZones, window: QuietWindow, horizonMs = SEND_TIME_HORIZON_MS): SendTime {
  let t = now;
  for (let i = 0; i < MAX_SEARCHES; i++) {
    // Each answer is strictly later than `t` (or null: open at `t`), and never skips an open instant.
    const end = recipientQuietEnd(t, rz, window);
    if (end === null) return t.getTime() === now.getTime() ? null : t;
    if (end.getTime() - now.getTime() > horizonMs) return 'never';
    t = end;
  }
  return t;
}

/** quietHoursCheck's counterpart for flows: one answer per set of zones, so a claim's runs share the work. */
export function flowSendTimeCheck(shop: QuietHoursShop, now: Date, opts: { floor: boolean }): (r: { phone: string | null; timezone: string | null }) => SendTime {
  const window: QuietWindow = { start: shop.quietStart, end: shop.quietEnd };
  const byZones = new Map<string, SendTime>();
  return (r) => {
    const found = recipientZones(r.phone, r.timezone, shop.timezone);
    const rz: RecipientZones = opts.floor ? found : { ...found, floorZones: [] };
    const key = `${rz.zones.join(',')}|${rz.floorZones.join(',')}`;
    let answer = byZones.get(key);
    if (answer === undefined) {
      answer = firstSendTime(now, rz, window);
      byZones.set(key, answer);
    }
    return answer;
  };
}
