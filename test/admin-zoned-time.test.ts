import { utcToZoned, zonedToUtc } from '../apps/admin/src/zoned-time';
import { zonedWallTimeToInstant } from '../domain/compliance/quiet-hours';

// The composer's schedule (and a scheduled campaign's Reschedule) turns a
// date and time in the shop's timezone into the instant sent as scheduledAt.
// A campaign is launched at that instant, never earlier: a wall time that
// does not exist (the hour the clocks skip) must not become one before it.

const at = (date: string, time: string, zone: string): string => zonedToUtc(date, time, zone)!.toISOString();

describe('admin zoned time', () => {
  it('reads an ordinary time in the zone, on either side of a DST change', () => {
    expect(at('2027-01-15', '12:00', 'America/New_York')).toBe('2027-01-15T17:00:00.000Z');
    expect(at('2027-07-15', '12:00', 'America/New_York')).toBe('2027-07-15T16:00:00.000Z');
    expect(at('2027-03-14', '01:59', 'America/New_York')).toBe('2027-03-14T06:59:00.000Z');
    expect(at('2027-03-14', '03:00', 'America/New_York')).toBe('2027-03-14T07:00:00.000Z');
    expect(at('2027-03-28', '03:30', 'Europe/Berlin')).toBe('2027-03-28T01:30:00.000Z');
    expect(at('2027-06-01', '09:00', 'Asia/Kolkata')).toBe('2027-06-01T03:30:00.000Z');
    expect(at('2027-06-01', '09:00', 'UTC')).toBe('2027-06-01T09:00:00.000Z');
  });

  it('a time in the hour the clocks skip is never read as an instant before that hour, west or east of UTC', () => {
    // 02:30 does not exist on these days: the clocks jump from 02:00 to 03:00. It was read
    // as 01:30 EST in New York (an hour early), as 03:30 in Berlin and Sydney.
    for (const [date, zone] of [
      ['2027-03-14', 'America/New_York'],
      ['2027-03-14', 'America/Los_Angeles'],
      ['2027-03-28', 'Europe/Berlin'],
      ['2027-10-03', 'Australia/Sydney'],
    ] as const) {
      const instant = zonedToUtc(date, '02:30', zone)!;
      const jump = zonedWallTimeToInstant(Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10)), 2, 30, zone);
      expect(instant.getTime()).toBeGreaterThanOrEqual(jump.getTime());
      // As if the clocks had not moved yet: 03:30 of the new offset.
      expect(utcToZoned(instant.toISOString(), zone)).toEqual({ date, time: '03:30' });
    }
  });

  it('the start of a day whose midnight is skipped is on that day (a last-order "on or after" bound took the day before\'s last hour)', () => {
    // Santiago moves from -04 to -03 at 00:00 on the first Sunday of September.
    const start = zonedToUtc('2027-09-05', '00:00', 'America/Santiago')!;
    expect(utcToZoned(start.toISOString(), 'America/Santiago')).toEqual({ date: '2027-09-05', time: '01:00' });
    expect(utcToZoned(new Date(start.getTime() - 1).toISOString(), 'America/Santiago').date).toBe('2027-09-04');
  });

  it('a time the clocks show twice is the first of the two, as the api reads one (quiet-hours.ts)', () => {
    expect(at('2027-11-07', '01:30', 'America/New_York')).toBe('2027-11-07T05:30:00.000Z');
    expect(at('2027-10-31', '02:30', 'Europe/Berlin')).toBe('2027-10-31T00:30:00.000Z');
    expect(at('2027-04-04', '02:30', 'Australia/Sydney')).toBe('2027-04-03T15:30:00.000Z');
    for (const [d, t, z] of [['2027-11-07', '01:30', 'America/New_York'], ['2027-10-31', '02:30', 'Europe/Berlin']] as const) {
      expect(zonedToUtc(d, t, z)!.getTime()).toBe(zonedWallTimeToInstant(Number(d.slice(0, 4)), Number(d.slice(5, 7)), Number(d.slice(8, 10)), Number(t.slice(0, 2)), Number(t.slice(3, 5)), z).getTime());
    }
  });

  it('a malformed date or time is null', () => {
    expect(zonedToUtc('2027-1-5', '12:00', 'UTC')).toBeNull();
    expect(zonedToUtc('2027-01-05', '', 'UTC')).toBeNull();
  });
});
