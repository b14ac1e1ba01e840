import type { Logger } from 'pino';
import { isValidTimeZone, quietHoursEnd } from '../compliance/quiet-hours';

/**
 * The end of the shop's quiet hours if `now` is inside them, else null. A
 * timezone the runtime does not know (the API validates it, so only bad data
 * gets here) is read as UTC rather than letting messages go out unchecked.
 */
export function shopQuietHoursEnd(
  shop: { timezone: string; quietStart: string; quietEnd: string },
  now: Date,
  logger?: Logger,
): Date | null {
  let zone = shop.timezone;
  if (!isValidTimeZone(zone)) {
    logger?.warn({ timezone: zone }, 'unknown shop timezone; applying quiet hours in UTC');
    zone = 'UTC';
  }
  return quietHoursEnd(now, zone, { start: shop.quietStart, end: shop.quietEnd });
}
