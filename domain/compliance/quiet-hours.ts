// Quiet hours: a shop-local window (default 21:00–08:00, may wrap midnight)
// in which no campaign message may start going out. Work that falls inside is
// postponed to the window's end, never dropped and never sent early.
//
// Local time comes from Intl with the shop's IANA zone, so DST shifts are
// whatever the tz database says; no fixed offsets are ever assumed.

export interface QuietWindow {
  /** "HH:MM", shop-local. */
  start: string;
  /** "HH:MM", shop-local; an end earlier than the start wraps past midnight. */
  end: string;
}

export const DEFAULT_QUIET_WINDOW: QuietWindow = { start: '21:00', end: '08:00' };

export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The tz database name the runtime knows it by (`america/new_york` → `America/New_York`), or null. */
export function canonicalTimeZone(name: string): string | null {
  // Only names: Intl would also take offsets such as "+05:00", which are not zones.
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(name)) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** True when `timeZone` is an IANA name this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock of `timeZone` at an instant (second resolution). */
export function wallTimeAt(instantMs: number, timeZone: string): WallTime {
  const out: WallTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of formatterFor(timeZone).formatToParts(new Date(instantMs))) {
    if (p.type in out) out[p.type as keyof WallTime] = Number(p.value);
  }
  return out;
}

/** Offset of the zone at an instant: local wall clock minus UTC, in ms. */
function offsetAt(instantMs: number, timeZone: string): number {
  const w = wallTimeAt(instantMs, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (instantMs - (instantMs % 1000 + 1000) % 1000);
}

function wallKey(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/**
 * The first instant whose local wall time is at or after the given wall time.
 * Normally exact; when the wall time falls in a spring-forward gap it does not
 * exist, and the result is the first existing local time after it. When it
 * occurs twice (fall back), the earlier occurrence.
 */
export function zonedWallTimeToInstant(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): Date {
  const target = Date.UTC(year, month - 1, day, hour, minute, 0);
  // The offset in force near the target is one of the offsets at target ± a day
  // (no zone changes offset twice within a day); try each and keep the earliest
  // instant that does not land before the target wall time.
  const offsets = new Set([offsetAt(target - 86_400_000, timeZone), offsetAt(target, timeZone), offsetAt(target + 86_400_000, timeZone)]);
  let best: number | undefined;
  for (const off of offsets) {
    const candidate = target - off;
    if (wallKey(wallTimeAt(candidate, timeZone)) >= target && (best === undefined || candidate < best)) best = candidate;
  }
  // Defensive: no zone shifts by more than a day, so some candidate always qualifies.
  if (best === undefined) best = Math.max(...[...offsets].map((o) => target - o)) + 86_400_000;
  if (wallKey(wallTimeAt(best, timeZone)) === target) return new Date(best);
  // The target wall time is in a spring-forward gap: the answer is the moment
  // the clocks jump, found by bisection (wall time is monotonic across a gap).
  // Whole seconds throughout: the wall clock has second resolution.
  let hi = Math.ceil(best / 1_000) * 1_000;
  let lo = hi - 3 * 3_600_000;
  while (hi - lo > 1_000) {
    const mid = lo + Math.floor((hi - lo) / 2_000) * 1_000;
    if (wallKey(wallTimeAt(mid, timeZone)) >= target) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

function minutesOf(hhmm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!m) throw new RangeError(`quiet hours time must be HH:MM, got ${hhmm}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/**
 * If `now` is inside the shop's quiet window, the instant the window ends;
 * otherwise null. A window whose start equals its end is empty.
 */
export function quietHoursEnd(now: Date, timeZone: string, window: QuietWindow = DEFAULT_QUIET_WINDOW): Date | null {
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  if (start === end) return null;
  const local = wallTimeAt(now.getTime(), timeZone);
  const minute = local.hour * 60 + local.minute;
  const wraps = start > end;
  const inside = wraps ? minute >= start || minute < end : minute >= start && minute < end;
  if (!inside) return null;
  // The window ends today, unless it wraps and we are in its evening part.
  const endsTomorrow = wraps && minute >= start;
  const day = new Date(Date.UTC(local.year, local.month - 1, local.day + (endsTomorrow ? 1 : 0)));
  const at = zonedWallTimeToInstant(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), Math.floor(end / 60), end % 60, timeZone);
  // A DST gap can make the wall-clock end land at or before now; never report
  // an end that has already passed while we are still inside the window.
  return at.getTime() > now.getTime() ? at : new Date(now.getTime() + 60_000);
}
