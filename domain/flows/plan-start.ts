import { quietHoursEnd } from '../compliance/quiet-hours';
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

/** When a wait that starts at `at` ends. */
export function waitEnd(step: WaitStep, at: Date, zones: RecipientZones): Date {
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
export function planStart(steps: readonly FlowStep[], base: Date, zones: RecipientZones): PlannedStart {
  let due = base;
  let i = 0;
  while (i < steps.length && steps[i]?.type === 'wait') {
    due = waitEnd(steps[i] as WaitStep, due, zones);
    i++;
  }
  return { currentStep: i, nextDueAt: due };
}
