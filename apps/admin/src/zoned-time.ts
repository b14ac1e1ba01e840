// Wall-clock times in the shop's timezone, with the browser's Intl only: the
// merchant schedules in the shop's time, whatever their computer's zone.

function wallClockOf(t: number, timeZone: string): number {
  const f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const p = Object.fromEntries(f.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
}

/** `YYYY-MM-DD` + `HH:MM` in `timeZone` → the instant (null when malformed). */
export function zonedToUtc(date: string, time: string, timeZone: string): Date | null {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const h = /^(\d{2}):(\d{2})$/.exec(time);
  if (!d || !h) return null;
  const wall = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(h[1]), Number(h[2]));
  // The offsets in force a day either side: a DST change switches between the two.
  const offsets = [...new Set([wall - DAY_MS, wall + DAY_MS].map((t) => wallClockOf(t, timeZone) - t))];
  const exact = offsets.map((o) => wall - o).filter((t) => wallClockOf(t, timeZone) === wall);
  // Shown twice (clocks going back): the first, as the api reads a wall time (domain/compliance/quiet-hours.ts).
  if (exact.length > 0) return new Date(Math.min(...exact));
  // Skipped (clocks going forward): read with the offset before the jump, which
  // lands after it (02:30 → 03:30 when 02:00 becomes 03:00). A scheduled
  // campaign is never sent early; the other offset gave 01:30 west of UTC.
  return new Date(wall - Math.min(...offsets));
}

const DAY_MS = 86_400_000;

export function utcToZoned(iso: string, timeZone: string): { date: string; time: string } {
  const w = new Date(wallClockOf(new Date(iso).getTime(), timeZone)).toISOString();
  return { date: w.slice(0, 10), time: w.slice(11, 16) };
}

/** Whether shop-local `HH:MM` falls in the quiet window [start, end), which may wrap midnight; start = end is no window. */
export function inQuietHours(time: string, q: { start: string; end: string }): boolean {
  if (q.start === q.end) return false;
  return q.start < q.end ? time >= q.start && time < q.end : time >= q.start || time < q.end;
}
