import { quietHoursEnd, type QuietWindow } from './quiet-hours';
import type { RecipientZones } from './recipient-time-zone';

/**
 * The legal floor for US and Canadian numbers: never before 08:00 or after
 * 21:00 local. A shop may widen its quiet hours beyond it, never narrow them:
 * the floor is applied on top of the shop's window, in the send path.
 */
export const LEGAL_FLOOR: QuietWindow = { start: '21:00', end: '08:00' };

/** A window that wraps all day would never open: give up after this many hops and look again at the instant reached. */
const MAX_HOPS = 12;

/**
 * If `now` is inside a quiet window for this recipient — the shop's window in
 * any of their zones, or the floor in any of their floor zones — the first
 * instant none applies; otherwise null.
 */
export function recipientQuietEnd(now: Date, rz: RecipientZones, shopWindow: QuietWindow): Date | null {
  const checks: [string, QuietWindow][] = [...rz.zones.map((z): [string, QuietWindow] => [z, shopWindow]), ...rz.floorZones.map((z): [string, QuietWindow] => [z, LEGAL_FLOOR])];
  let t = now;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    let moved = false;
    for (const [zone, window] of checks) {
      const end = quietHoursEnd(t, zone, window);
      if (end && end.getTime() > t.getTime()) {
        t = end;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return t.getTime() > now.getTime() ? t : null;
}

export interface QuietHoursShop {
  timezone: string;
  quietStart: string;
  quietEnd: string;
}
