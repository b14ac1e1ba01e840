import { recipientZones } from '../compliance/recipient-time-zone';
import type { FlowStep } from './flow-input';
import { nextLocalWindow, planStart } from './plan-start';

// Where a run starts: leading waits folded into the first due time, local
// windows read in the recipient's zone(s), DST and midnight-wrapping windows.

const at = (s: string): Date => new Date(s);
const send: FlowStep = { type: 'send', body: 'Hi' };

describe('planStart', () => {
  const utc = recipientZones(null, 'UTC', 'UTC');

  it('a flow that starts with a send is due at its base, on step 0', () => {
    expect(planStart([send], at('2026-12-04T09:00:00Z'), utc)).toEqual({ currentStep: 0, nextDueAt: at('2026-12-04T09:00:00Z') });
  });

  it('leading waits add up and the run starts on the first step after them', () => {
    const steps: FlowStep[] = [
      { type: 'wait', duration: { amount: 2, unit: 'hours' } },
      { type: 'wait', duration: { amount: 1, unit: 'days' } },
      send,
      { type: 'wait', duration: { amount: 5, unit: 'minutes' } },
      send,
    ];
    expect(planStart(steps, at('2026-12-04T09:00:00Z'), utc)).toEqual({ currentStep: 2, nextDueAt: at('2026-12-05T11:00:00Z') });
  });

  it('a wait until a local window is due now inside it, else at its next opening in the recipient zone', () => {
    const ny = recipientZones('+12125550100', null, 'UTC');
    const steps: FlowStep[] = [{ type: 'wait', untilLocalTime: { from: '10:00', to: '20:00' } }, send];
    // 12:00 in New York (EST, UTC-5): inside.
    expect(planStart(steps, at('2026-12-04T17:00:00Z'), ny).nextDueAt).toEqual(at('2026-12-04T17:00:00Z'));
    // 21:00 in New York: the next morning at 10:00 local.
    expect(planStart(steps, at('2026-12-05T02:00:00Z'), ny).nextDueAt).toEqual(at('2026-12-05T15:00:00Z'));
    // 06:00 in New York: 10:00 the same day.
    expect(planStart(steps, at('2026-12-04T11:00:00Z'), ny).nextDueAt).toEqual(at('2026-12-04T15:00:00Z'));
  });

  it('a window across midnight, and a duration then a window', () => {
    expect(nextLocalWindow(at('2026-12-04T12:00:00Z'), { from: '22:00', to: '02:00' }, ['UTC'])).toEqual(at('2026-12-04T22:00:00Z'));
    expect(nextLocalWindow(at('2026-12-04T23:30:00Z'), { from: '22:00', to: '02:00' }, ['UTC'])).toEqual(at('2026-12-04T23:30:00Z'));
    const steps: FlowStep[] = [{ type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'wait', untilLocalTime: { from: '09:00', to: '17:00' } }, send];
    expect(planStart(steps, at('2026-12-04T20:00:00Z'), utc)).toEqual({ currentStep: 2, nextDueAt: at('2026-12-06T09:00:00Z') });
  });

  it('across a DST change the opening is local wall time (London, last Sunday of March)', () => {
    const london = recipientZones('+442071838750', null, 'UTC');
    // Saturday 28 March 2026 21:00 GMT; the clocks go forward that night: 10:00 BST is 09:00 UTC.
    expect(nextLocalWindow(at('2026-03-28T21:00:00Z'), { from: '10:00', to: '20:00' }, london.zones)).toEqual(at('2026-03-29T09:00:00Z'));
  });

  it('a number whose area code straddles zones waits until the window is open in all of them', () => {
    // Opening at 10:00 in the latest zone is after 10:00 in the earliest.
    const opens = nextLocalWindow(at('2026-12-04T12:00:00Z'), { from: '10:00', to: '20:00' }, ['America/New_York', 'America/Chicago']);
    expect(opens).toEqual(at('2026-12-04T16:00:00Z'));
  });
});
