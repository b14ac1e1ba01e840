import { recipientZones } from '../compliance/recipient-time-zone';
import type { FlowStep } from './flow-input';
import { nextLocalWindow, planStart, waitEnd } from './plan-start';

// Where a run starts: leading waits folded into the first due time, local
// windows read in the recipient's zone(s), DST and midnight-wrapping windows.

const at = (s: string): Date => new Date(s);
const send: FlowStep = { type: 'send', body: 'Hi' };

describe('planStart', () => {
  const utc = recipientZones(null, 'UTC', 'UTC');

  it('a flow that starts with a send is due at its base, on step 0', () => {
    expect(planStart([send], at('2026-12-04T09:00:00Z'), utc, 'UTC')).toEqual({ currentStep: 0, nextDueAt: at('2026-12-04T09:00:00Z') });
  });

  it('leading waits add up and the run starts on the first step after them', () => {
    const steps: FlowStep[] = [
      { type: 'wait', duration: { amount: 2, unit: 'hours' } },
      { type: 'wait', duration: { amount: 1, unit: 'days' } },
      send,
      { type: 'wait', duration: { amount: 5, unit: 'minutes' } },
      send,
    ];
    expect(planStart(steps, at('2026-12-04T09:00:00Z'), utc, 'UTC')).toEqual({ currentStep: 2, nextDueAt: at('2026-12-05T11:00:00Z') });
  });

  it('a wait until a local window is due now inside it, else at its next opening in the recipient zone', () => {
    const ny = recipientZones('+12125550100', null, 'UTC');
    const steps: FlowStep[] = [{ type: 'wait', untilLocalTime: { from: '10:00', to: '20:00' } }, send];
    // 12:00 in New York (EST, UTC-5): inside.
    expect(planStart(steps, at('2026-12-04T17:00:00Z'), ny, 'UTC').nextDueAt).toEqual(at('2026-12-04T17:00:00Z'));
    // 21:00 in New York: the next morning at 10:00 local.
    expect(planStart(steps, at('2026-12-05T02:00:00Z'), ny, 'UTC').nextDueAt).toEqual(at('2026-12-05T15:00:00Z'));
    // 06:00 in New York: 10:00 the same day.
    expect(planStart(steps, at('2026-12-04T11:00:00Z'), ny, 'UTC').nextDueAt).toEqual(at('2026-12-04T15:00:00Z'));
  });

  it('a window across midnight, and a duration then a window', () => {
    expect(nextLocalWindow(at('2026-12-04T12:00:00Z'), { from: '22:00', to: '02:00' }, ['UTC'])).toEqual(at('2026-12-04T22:00:00Z'));
    expect(nextLocalWindow(at('2026-12-04T23:30:00Z'), { from: '22:00', to: '02:00' }, ['UTC'])).toEqual(at('2026-12-04T23:30:00Z'));
    const steps: FlowStep[] = [{ type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'wait', untilLocalTime: { from: '09:00', to: '17:00' } }, send];
    expect(planStart(steps, at('2026-12-04T20:00:00Z'), utc, 'UTC')).toEqual({ currentStep: 2, nextDueAt: at('2026-12-06T09:00:00Z') });
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

  describe('a wait in days is calendar days at the same local time in the shop zone', () => {
    const days = (amount: number): FlowStep => ({ type: 'wait', duration: { amount, unit: 'days' } });
    const wait = (amount: number, unit: 'minutes' | 'hours' | 'days') => ({ type: 'wait' as const, duration: { amount, unit } });

    it('2 days across spring forward (New York, 8 March 2026) is 10:00 local again, 47 h later', () => {
      // Saturday 7 March 10:00 EST (UTC-5) → Monday 9 March 10:00 EDT (UTC-4).
      const plan = planStart([days(2), send], at('2026-03-07T15:00:00Z'), utc, 'America/New_York');
      expect(plan).toEqual({ currentStep: 1, nextDueAt: at('2026-03-09T14:00:00Z') });
    });

    it('1 day across fall back (London, 25 October 2026) is 18:30:15.250 local again, 25 h later', () => {
      // Saturday 24 October 18:30:15.250 BST (UTC+1) → Sunday 25 October 18:30:15.250 GMT.
      expect(waitEnd(wait(1, 'days'), at('2026-10-24T17:30:15.250Z'), utc, 'Europe/London')).toEqual(at('2026-10-25T18:30:15.250Z'));
    });

    it("a wall time the clocks skip is the first one after it; the shop's zone, not the recipient's", () => {
      // Saturday 7 March 02:30 EST; Sunday 02:30 does not exist in New York: 03:00 EDT.
      const ny = recipientZones('+12125550100', null, 'Europe/London');
      expect(waitEnd(wait(1, 'days'), at('2026-03-07T07:30:00Z'), ny, 'America/New_York')).toEqual(at('2026-03-08T07:00:00Z'));
      // The same step for a London shop ignores New York's change: 24 h.
      expect(waitEnd(wait(1, 'days'), at('2026-03-07T07:30:00Z'), ny, 'Europe/London')).toEqual(at('2026-03-08T07:30:00Z'));
    });

    it('hours and minutes stay elapsed time across the same change; an unknown shop zone is UTC', () => {
      expect(waitEnd(wait(48, 'hours'), at('2026-03-07T15:00:00Z'), utc, 'America/New_York')).toEqual(at('2026-03-09T15:00:00Z'));
      expect(waitEnd(wait(2880, 'minutes'), at('2026-03-07T15:00:00Z'), utc, 'America/New_York')).toEqual(at('2026-03-09T15:00:00Z'));
      expect(waitEnd(wait(2, 'days'), at('2026-03-07T15:00:00Z'), utc, 'Not/AZone')).toEqual(at('2026-03-09T15:00:00Z'));
    });
  });
});
