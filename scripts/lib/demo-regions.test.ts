import { normalizePhone } from '../../domain/contacts/phone';
import { sendTimeCheck } from '../../domain/compliance/send-time';
import { DEMO_REGIONS, daytimeRegion } from './demo-regions';

// The demo must not hang at any hour: whatever the clock, its audience is
// numbered where the shop's quiet hours (21:00–08:00, in each recipient's
// zone) and the US/CA floor let it be texted for the next hour at least.
describe('demo regions', () => {
  const days = ['2026-01-15', '2026-07-15', '2026-03-08', '2026-11-01'];

  it.each(days)('give every quarter hour of %s a region the send-time check lets through now and an hour later', (day) => {
    for (let m = 0; m < 24 * 60; m += 15) {
      const at = new Date(`${day}T00:00:00Z`);
      at.setUTCMinutes(m);
      const found = daytimeRegion(at);
      expect(found).not.toBeNull();
      const { region } = found!;
      const check = sendTimeCheck({ timezone: region.zone, quietStart: '21:00', quietEnd: '08:00' }, at, { floor: true });
      const later = sendTimeCheck({ timezone: region.zone, quietStart: '21:00', quietEnd: '08:00' }, new Date(at.getTime() + 3_600_000), { floor: true });
      const phone = `${region.contactPrefix}${region.contactBase + 1234}`;
      expect({ at: at.toISOString(), region: region.name, now: check({ phone, timezone: null }), later: later({ phone, timezone: null }) })
        .toEqual({ at: at.toISOString(), region: region.name, now: null, later: null });
    }
  });

  it.each(DEMO_REGIONS.map((r) => [r.name, r] as const))('numbers valid mobiles in %s at both ends of their ranges', (_name, region) => {
    const numbers = [
      `${region.contactPrefix}${region.contactBase}`,
      `${region.contactPrefix}${region.contactBase + 2_000_000 - 1}`,
      `${region.customerPrefix}${region.customerBase}`,
      `${region.customerPrefix}${region.customerBase + 1_000_000 - 1}`,
    ];
    for (const n of numbers) expect(normalizePhone(n)).toBe(n);
    // The two ranges never share a number (the sync must create, not update, the seeded contacts).
    if (region.contactPrefix === region.customerPrefix) expect(region.customerBase).toBeGreaterThanOrEqual(region.contactBase + 2_000_000);
  });
});
