import fc from 'fast-check';
import { isValidTimeZone, quietHoursEnd, zonedWallTimeToInstant } from './quiet-hours';

const at = (iso: string): Date => new Date(iso);
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const DEFAULT = { start: '21:00', end: '08:00' };

describe('quietHoursEnd', () => {
  it('is null outside the window and the same-day end inside its morning part (UTC)', () => {
    expect(quietHoursEnd(at('2026-03-10T12:00:00Z'), 'UTC', DEFAULT)).toBeNull();
    expect(quietHoursEnd(at('2026-03-10T20:59:59Z'), 'UTC', DEFAULT)).toBeNull();
    expect(quietHoursEnd(at('2026-03-10T08:00:00Z'), 'UTC', DEFAULT)).toBeNull();
    expect(iso(quietHoursEnd(at('2026-03-10T03:00:00Z'), 'UTC', DEFAULT))).toBe('2026-03-10T08:00:00.000Z');
    expect(iso(quietHoursEnd(at('2026-03-10T07:59:59Z'), 'UTC', DEFAULT))).toBe('2026-03-10T08:00:00.000Z');
  });

  it('wraps past midnight: an evening instant ends the next morning', () => {
    expect(iso(quietHoursEnd(at('2026-03-10T21:00:00Z'), 'UTC', DEFAULT))).toBe('2026-03-11T08:00:00.000Z');
    expect(iso(quietHoursEnd(at('2026-12-31T23:30:00Z'), 'UTC', DEFAULT))).toBe('2027-01-01T08:00:00.000Z');
  });

  it('uses the shop timezone (Asia/Kolkata, +05:30)', () => {
    // 16:00Z is 21:30 IST.
    expect(iso(quietHoursEnd(at('2026-06-01T16:00:00Z'), 'Asia/Kolkata', DEFAULT))).toBe('2026-06-02T02:30:00.000Z');
    // 12:00Z is 17:30 IST: outside.
    expect(quietHoursEnd(at('2026-06-01T12:00:00Z'), 'Asia/Kolkata', DEFAULT)).toBeNull();
  });

  it('ends at local 08:00 across a spring-forward night (America/New_York, 2026-03-08)', () => {
    // 03:00Z = 22:00 EST on the 7th; the window ends 08:00 EDT (UTC-4) on the 8th.
    expect(iso(quietHoursEnd(at('2026-03-08T03:00:00Z'), 'America/New_York', DEFAULT))).toBe('2026-03-08T12:00:00.000Z');
    // 06:30Z = 01:30 EST, just before the jump.
    expect(iso(quietHoursEnd(at('2026-03-08T06:30:00Z'), 'America/New_York', DEFAULT))).toBe('2026-03-08T12:00:00.000Z');
    // 11:59Z = 07:59 EDT: still inside; 12:00Z = 08:00 EDT: outside.
    expect(iso(quietHoursEnd(at('2026-03-08T11:59:00Z'), 'America/New_York', DEFAULT))).toBe('2026-03-08T12:00:00.000Z');
    expect(quietHoursEnd(at('2026-03-08T12:00:00Z'), 'America/New_York', DEFAULT)).toBeNull();
  });

  it('ends at local 08:00 across a fall-back night (America/New_York, 2026-11-01)', () => {
    // 03:00Z = 23:00 EDT on Oct 31; the window ends 08:00 EST (UTC-5) on Nov 1.
    expect(iso(quietHoursEnd(at('2026-11-01T03:00:00Z'), 'America/New_York', DEFAULT))).toBe('2026-11-01T13:00:00.000Z');
    // 12:30Z = 07:30 EST: still inside (a fixed -4h offset would wrongly say 08:30, outside).
    expect(iso(quietHoursEnd(at('2026-11-01T12:30:00Z'), 'America/New_York', DEFAULT))).toBe('2026-11-01T13:00:00.000Z');
  });

  it('handles Europe/Berlin and a southern-hemisphere DST end (Australia/Sydney, 2026-04-05)', () => {
    // 21:30Z on Mar 28 = 22:30 CET; ends 08:00 CEST (UTC+2) on Mar 29.
    expect(iso(quietHoursEnd(at('2026-03-28T21:30:00Z'), 'Europe/Berlin', DEFAULT))).toBe('2026-03-29T06:00:00.000Z');
    // 11:00Z on Apr 4 = 22:00 AEDT; clocks go back at 03:00, so 08:00 AEST (UTC+10) = 22:00Z.
    expect(iso(quietHoursEnd(at('2026-04-04T11:00:00Z'), 'Australia/Sydney', DEFAULT))).toBe('2026-04-04T22:00:00.000Z');
  });

  it('an end time inside a DST gap ends when the clocks jump, never earlier', () => {
    // 02:30 does not exist in New York on 2026-03-08: the clocks go 01:59:59 EST → 03:00 EDT (07:00Z).
    const end = quietHoursEnd(at('2026-03-08T06:00:00Z'), 'America/New_York', { start: '21:00', end: '02:30' });
    expect(iso(end)).toBe('2026-03-08T07:00:00.000Z');
  });

  it('supports non-wrapping windows and treats start = end as no window', () => {
    const lunch = { start: '12:00', end: '14:00' };
    expect(iso(quietHoursEnd(at('2026-05-05T13:00:00Z'), 'UTC', lunch))).toBe('2026-05-05T14:00:00.000Z');
    expect(quietHoursEnd(at('2026-05-05T14:00:00Z'), 'UTC', lunch)).toBeNull();
    expect(quietHoursEnd(at('2026-05-05T11:59:00Z'), 'UTC', lunch)).toBeNull();
    expect(quietHoursEnd(at('2026-05-05T13:00:00Z'), 'UTC', { start: '09:00', end: '09:00' })).toBeNull();
  });

  it('rejects malformed window times', () => {
    expect(() => quietHoursEnd(at('2026-05-05T13:00:00Z'), 'UTC', { start: '9pm', end: '08:00' })).toThrow(RangeError);
  });

  it('property: the end is in the future, outside the window, and every earlier minute is inside it', () => {
    const zones = ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Sydney', 'Asia/Kolkata', 'America/St_Johns', 'Pacific/Chatham'];
    const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }),
        fc.constantFrom(...zones),
        hhmm,
        hhmm,
        (ms, zone, start, end) => {
          const now = new Date(ms);
          const window = { start, end };
          const until = quietHoursEnd(now, zone, window);
          if (!until) return;
          expect(until.getTime()).toBeGreaterThan(now.getTime());
          expect(quietHoursEnd(until, zone, window)).toBeNull();
          // Never sent early: just before the end we are still inside.
          expect(quietHoursEnd(new Date(until.getTime() - 1_000), zone, window)).not.toBeNull();
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('zonedWallTimeToInstant and isValidTimeZone', () => {
  it('converts a local wall time to its instant, picking the earlier of a repeated hour', () => {
    expect(zonedWallTimeToInstant(2026, 7, 1, 9, 0, 'America/Los_Angeles').toISOString()).toBe('2026-07-01T16:00:00.000Z');
    // 01:30 happens twice in New York on 2026-11-01: first at EDT (05:30Z).
    expect(zonedWallTimeToInstant(2026, 11, 1, 1, 30, 'America/New_York').toISOString()).toBe('2026-11-01T05:30:00.000Z');
  });

  it('knows IANA names', () => {
    expect(isValidTimeZone('Europe/Paris')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
  });
});
