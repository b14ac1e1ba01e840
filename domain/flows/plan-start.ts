import { isValidTimeZone, quietHoursEnd, wallTimeAt, zonedWallTimeToInstant } from '../compliance/quiet-hours';
import type { RecipientZones } from '../compliance/recipient-time-zone';
import { waitSeconds, type FlowStep, type WaitStep } from './flow-input';

export interface PlannedStart {
  /** The index of the first step that is not a wait (steps.length when there is none). */
  currentStep: number;
  nextDueAt: Date;
}

/**
 * The first instant at or after `at` whose local time is inside [from, to) in
 * every zone the recipient may be in (quiet in any is not yet; an area code
 * straddling zones waits for the later one). A few passes settle it: each
 * moves to a zone's next opening, never backwards.
 */
export function nextLocalWindow(at: Date, window: NonNullable<WaitStep['untilLocalTime']>, zones: readonly string[]): Date {
  // Outside [from, to) is the "quiet" window [to, from): its end is the opening.
  const closed = { start: window.to, end: window.from };
  let t = at;
  for (let pass = 0; pass < 4; pass++) {
    let moved = false;
    for (const zone of zones) {
      const opens = quietHoursEnd(t, zone, closed);
      if (opens && opens.getTime() > t.getTime()) {
        t = opens;
        moved = true;
      }
    }
    if (!moved) return t;
  }
  return t;
}

/**
 * `days` calendar days after `at`, at the same wall-clock time in `zone`: a
 * wait of "2 days" started at 10:00 ends at 10:00 two days later, DST change
 * or not (a fixed 2 × 86 400 s landed at 09:00 or 11:00 across one). A wall
 * time the clocks skip that day is the first one after it; one they repeat,
 * its first occurrence.
 */
export function addLocalDays(at: Date, days: number, zone: string): Date {
  const tz = isValidTimeZone(zone) ? zone : 'UTC';
  const w = wallTimeAt(at.getTime(), tz);
  const day = new Date(Date.UTC(w.year, w.month - 1, w.day + days));
  const start = zonedWallTimeToInstant(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), w.hour, w.minute, tz);
  // The wall clock's minute above; the seconds and milliseconds of `at` on top.
  return new Date(start.getTime() + w.second * 1000 + (((at.getTime() % 1000) + 1000) % 1000));
}

/**
 * When a wait that starts at `at` ends. Minutes and hours are elapsed time;
 * days are calendar days in the shop's zone (`shopZone`: the merchant's clock,
 * the one the admin shows), so the step goes at the same local time.
 */
export function waitEnd(step: WaitStep, at: Date, zones: RecipientZones, shopZone: string): Date {
  if (step.duration?.unit === 'days') return addLocalDays(at, step.duration.amount, shopZone);
  if (step.duration) return new Date(at.getTime() + waitSeconds(step.duration) * 1000);
  if (step.untilLocalTime) return nextLocalWindow(at, step.untilLocalTime, zones.zones);
  return at;
}

/**
 * Where a run starts: its leading waits are folded into its first due time
 * (a wait is only a due time, never a job), from `base` (now, or an abandoned
 * checkout's last update + the trigger's delay). The executor (docs/flows.md)
 * does the same with every later wait it reaches.
 */
export function planStart(steps: readonly FlowStep[], base: Date, zones: RecipientZones, shopZone: string): PlannedStart {
  let due = base;
  let i = 0;
  while (i < steps.length && steps[i]?.type === 'wait') {
    due = waitEnd(steps[i] as WaitStep, due, zones, shopZone);
    i++;
  }
  return { currentStep: i, nextDueAt: due };
}
