import { recipientZones } from '../compliance/recipient-time-zone';
import { firstSendTime, flowSendTimeCheck } from './flow-quiet-hours';

// A send step's time to send: the first instant the shop's window (in the
// recipient's zones) and the US/CA floor (in theirs) both allow, or `never`
// when they share none within the bound, so the step ends instead of being
// deferred again and again.

const at = (s: string): Date => new Date(s);

describe('firstSendTime', () => {
  const ny = recipientZones('+12125550100', 'America/New_York', 'UTC');

  it('null when the recipient may be texted now', () => {
    expect(firstSendTime(at('2026-12-04T17:00:00Z'), ny, { start: '21:00', end: '09:00' })).toBeNull();
  });

  it("the first instant both the shop's window and the floor allow", () => {
    // 05:00 in New York: the shop is quiet until 09:00 (the floor only until 08:00).
    expect(firstSendTime(at('2026-12-04T10:00:00Z'), ny, { start: '21:00', end: '09:00' })).toEqual(at('2026-12-04T14:00:00Z'));
    // 23:00 in New York, a shop quiet 22:00–06:00: the floor's 08:00 is later.
    expect(firstSendTime(at('2026-12-05T04:00:00Z'), ny, { start: '22:00', end: '06:00' })).toEqual(at('2026-12-05T13:00:00Z'));
  });

  it('never, when the shop is quiet through the hours the floor leaves (07:00–22:00 against 21:00–08:00)', () => {
    expect(firstSendTime(at('2026-12-04T10:00:00Z'), ny, { start: '07:00', end: '22:00' })).toBe('never');
  });

  it("never, for an unknown area code (the floor in six zones) against a Tokyo shop's window", () => {
    // Open in Tokyo 11:00–17:00 (02:00–08:00 UTC); the floor in New York … Honolulu leaves 18:00–02:00 UTC.
    const unknown = recipientZones('+19995550100', null, 'Asia/Tokyo');
    expect(unknown.floorZones).toHaveLength(6);
    expect(firstSendTime(at('2026-12-04T10:00:00Z'), unknown, { start: '17:00', end: '11:00' })).toBe('never');
    // A wider Tokyo window (open 08:00–21:00 JST = 23:00–12:00 UTC) meets the floor's 18:00–02:00 UTC at 23:00 UTC.
    expect(firstSendTime(at('2026-12-04T10:00:00Z'), unknown, { start: '21:00', end: '08:00' })).toEqual(at('2026-12-04T23:00:00Z'));
  });

  it('flowSendTimeCheck answers per recipient, the floor off when asked', () => {
    const shop = { timezone: 'America/New_York', quietStart: '07:00', quietEnd: '22:00' };
    const now = at('2026-12-04T15:00:00Z'); // 10:00 in New York
    expect(flowSendTimeCheck(shop, now, { floor: true })({ phone: '+12125550100', timezone: null })).toBe('never');
    // Without the floor, the shop's own window opens at 22:00 New York.
    expect(flowSendTimeCheck(shop, now, { floor: false })({ phone: '+12125550100', timezone: null })).toEqual(at('2026-12-05T03:00:00Z'));
  });
});
