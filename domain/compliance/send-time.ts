import type { QuietWindow } from './quiet-hours';
import { recipientQuietEnd, type QuietHoursShop } from './recipient-quiet-hours';
import { recipientZones, type RecipientZones } from './recipient-time-zone';

// When a recipient may be texted: the first instant that neither the shop's
// window (in the recipient's zones) nor the US/CA floor (in theirs) covers.
// The two may never share an open instant — a shop quiet all day
// (07:00–22:00) against the floor's 21:00–08:00, or the floor across an
// unknown area code's six zones against a shop window read in a far zone —
// and recipientQuietEnd alone gives up after its hops at an instant that may
// still be quiet: a send deferred there is deferred again, forever (a flow
// step re-claimed every few days, a campaign batch every 12 days, its credits
// held). Here the search goes on to a bound: the first instant both allow,
// or `never`, and the caller ends the send with reason `quiet_hours`.
// Shared by campaign batches (claim-batch.ts) and flow send steps.

/** How far ahead a send looks for an instant its quiet hours allow (a week of daily windows, and a day of DST shifts). */
export const SEND_TIME_HORIZON_MS = 8 * 24 * 3_600_000;

/** Searches per answer at most; past it the send is deferred to where the search got (progress, re-asked when due). */
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

/**
 * A per-claim check: for a recipient (phone, contact zone), their SendTime at
 * `now`. Recipients sharing zones share the answer, so a claim computes it
 * once per distinct zone set.
 */
export function sendTimeCheck(shop: QuietHoursShop, now: Date, opts: { floor: boolean }): (r: { phone: string | null; timezone: string | null }) => SendTime {
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

/**
 * Whether the shop's quiet window and the US/CA floor together leave a US or
 * Canadian number no instant to be texted (a shop quiet 07:00–22:00 against
 * the floor's 21:00–08:00): every message to one would be skipped
 * `quiet_hours`. The shop's window and the floor are both read in the
 * recipient's own zone, so whether they cover the whole day is the same in
 * every zone; New York's stands for all of them. The answer is the send
 * path's own (firstSendTime), never a second reading of the two windows.
 */
export function floorLeavesNoSendTime(window: QuietWindow, now: Date): boolean {
  const zone = 'America/New_York';
  return firstSendTime(now, { zones: [zone], floorZones: [zone], source: 'area_code' }, window) === 'never';
}
