import { canonicalTimeZone, shopSettingsPatchSchema } from './update-shop-settings';

describe('canonicalTimeZone', () => {
  it.each([
    ['America/New_York', 'America/New_York'],
    ['america/new_york', 'America/New_York'],
    ['UTC', 'UTC'],
    ['Europe/London', 'Europe/London'],
  ])('%s → %s', (name, canonical) => {
    expect(canonicalTimeZone(name)).toBe(canonical);
  });

  it.each(['Mars/Olympus_Mons', '+05:00', 'UTC+5', '', ' Europe/London', 'Europe/London\u0000'])('rejects %j', (name) => {
    expect(canonicalTimeZone(name)).toBeNull();
  });
});

describe('shopSettingsPatchSchema', () => {
  it('accepts alphanumeric (≤ 11, one letter) and numeric (3–15 digits) sender ids', () => {
    for (const senderId of ['A', 'Shop2026', 'ElevenChars', '447700900123', '123']) {
      expect(shopSettingsPatchSchema.safeParse({ senderId }).success).toBe(true);
    }
    for (const senderId of ['TwelveChars1', '12', '1234567890123456', 'My Shop', 'Shöp', '']) {
      expect(shopSettingsPatchSchema.safeParse({ senderId }).success).toBe(false);
    }
  });
});
