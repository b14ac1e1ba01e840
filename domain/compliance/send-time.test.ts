import { floorLeavesNoSendTime, sendTimeCheck } from './send-time';

// A shop's quiet window that, with the US/CA floor (21:00–08:00), covers the
// whole day leaves US and Canadian numbers no time to be texted: the Settings
// warning (quietHoursWarning) says so, and it must agree with what the send
// path does to such numbers.

const WHOLE_DAY = [
  { start: '07:00', end: '22:00' },
  { start: '08:00', end: '21:00' },
  { start: '00:00', end: '23:59' },
  { start: '07:30', end: '21:30' },
  { start: '23:00', end: '22:00' },
];

const SOME_TIME_LEFT = [
  { start: '21:00', end: '08:00' },
  { start: '03:00', end: '03:05' },
  { start: '08:01', end: '21:00' },
  { start: '08:00', end: '20:59' },
  { start: '09:00', end: '08:00' },
  { start: '12:00', end: '13:00' },
];

// An ordinary day, and New York's two DST changes (2026-03-08, 2026-11-01).
const DAYS = ['2026-12-05T15:00:00Z', '2026-03-08T06:30:00Z', '2026-11-01T05:30:00Z'].map((iso) => new Date(iso));

describe('floorLeavesNoSendTime', () => {
  it.each(WHOLE_DAY)('quiet $start–$end with the floor covers the whole day', (w) => {
    for (const now of DAYS) expect([now.toISOString(), floorLeavesNoSendTime(w, now)]).toEqual([now.toISOString(), true]);
  });

  it.each(SOME_TIME_LEFT)('quiet $start–$end leaves US/CA numbers some time', (w) => {
    for (const now of DAYS) expect([now.toISOString(), floorLeavesNoSendTime(w, now)]).toEqual([now.toISOString(), false]);
  });

  it.each([...WHOLE_DAY, ...SOME_TIME_LEFT])('quiet $start–$end: the answer is what the send path does to US and Canadian numbers in any zone', (w) => {
    const shop = { timezone: 'Europe/Paris', quietStart: w.start, quietEnd: w.end };
    for (const now of DAYS) {
      const check = sendTimeCheck(shop, now, { floor: true });
      // New York, Los Angeles, Toronto by area code; Honolulu by the contact's own zone.
      const answers = [check({ phone: '+12125550100', timezone: null }), check({ phone: '+13105550100', timezone: null }), check({ phone: '+14165550100', timezone: null }), check({ phone: '+12125550100', timezone: 'Pacific/Honolulu' })];
      expect(answers.map((a) => a === 'never')).toEqual(answers.map(() => floorLeavesNoSendTime(w, now)));
    }
  });
});
