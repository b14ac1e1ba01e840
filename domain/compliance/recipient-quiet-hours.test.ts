import data from './data/phone-time-zones.json';
import { isValidTimeZone } from './quiet-hours';
import { recipientQuietEnd } from './recipient-quiet-hours';
import { sendTimeCheck } from './send-time';
import { areaCodeCountry, recipientZones } from './recipient-time-zone';

const at = (iso: string): Date => new Date(iso);
const iso = (d: Date | null | 'never'): string | null => (d instanceof Date ? d.toISOString() : d);
const NARROW = { start: '04:00', end: '05:00' };

describe('recipientZones', () => {
  it('prefers the contact zone, then the area code, then the calling code, then the shop', () => {
    expect(recipientZones('+12125550100', 'America/Denver', 'UTC')).toEqual({ zones: ['America/Denver'], floorZones: ['America/Denver'], source: 'contact' });
    expect(recipientZones('+12125550100', null, 'Europe/Paris')).toEqual({ zones: ['America/New_York'], floorZones: ['America/New_York'], source: 'area_code' });
    expect(recipientZones('+447700900123', null, 'America/New_York')).toEqual({ zones: ['Europe/London'], floorZones: [], source: 'country' });
    expect(recipientZones('+4915112345678', null, 'UTC').zones).toEqual(['Europe/Berlin']);
    expect(recipientZones('+77012345678', null, 'UTC').zones).toEqual(['Asia/Almaty']);
    expect(recipientZones('+74951234567', null, 'UTC').zones).toEqual(['Europe/Moscow']);
    expect(recipientZones(null, null, 'Asia/Tokyo')).toEqual({ zones: ['Asia/Tokyo'], floorZones: [], source: 'shop' });
  });

  it('Canada carries the floor; an independent Caribbean country does not; an unknown area code is floored in every US zone', () => {
    expect(recipientZones('+14165550100', null, 'UTC')).toEqual({ zones: ['America/Toronto'], floorZones: ['America/Toronto'], source: 'area_code' });
    expect(recipientZones('+18765550100', null, 'UTC')).toEqual({ zones: ['America/Jamaica'], floorZones: [], source: 'area_code' });
    const unknown = recipientZones('+19995550100', null, 'Europe/Paris');
    expect(unknown.zones).toEqual(['Europe/Paris']);
    expect(unknown.floorZones).toContain('Pacific/Honolulu');
    expect(unknown.floorZones).toContain('America/New_York');
  });

  it('a contact zone the runtime does not know is ignored', () => {
    expect(recipientZones('+447700900123', 'Mars/Olympus', 'UTC').source).toBe('country');
  });

  it('an area code that straddles zones gives each of them', () => {
    expect(recipientZones('+18505550100', null, 'UTC').zones.sort()).toEqual(['America/Chicago', 'America/New_York']);
  });

  it('every zone of the data file is one the runtime knows, and every area code belongs to one country', () => {
    for (const zones of Object.values(data.nanp as Record<string, Record<string, number[]>>)) for (const z of Object.keys(zones)) expect(isValidTimeZone(z)).toBe(true);
    for (const z of Object.values(data.countries as Record<string, string>)) expect(isValidTimeZone(z)).toBe(true);
    expect(areaCodeCountry('212')).toBe('US');
    expect(areaCodeCountry('604')).toBe('CA');
    expect(areaCodeCountry('787')).toBe('PR');
  });
});

describe('recipientQuietEnd', () => {
  it('a New York number at 22:00 New York time waits for 08:00 even when the shop narrowed its window', () => {
    // 2026-12-04 22:00 EST = 2026-12-05T03:00Z; 08:00 EST = 13:00Z.
    const ny = recipientZones('+12125550100', null, 'America/New_York');
    expect(iso(recipientQuietEnd(at('2026-12-05T03:00:00Z'), ny, NARROW))).toBe('2026-12-05T13:00:00.000Z');
    // 07:59 EST still quiet; 08:00 open; 20:59 open; 21:00 quiet again.
    expect(iso(recipientQuietEnd(at('2026-12-05T12:59:00Z'), ny, NARROW))).toBe('2026-12-05T13:00:00.000Z');
    expect(recipientQuietEnd(at('2026-12-05T13:00:00Z'), ny, NARROW)).toBeNull();
    expect(recipientQuietEnd(at('2026-12-05T01:59:00Z'), ny, NARROW)).toBeNull();
    expect(iso(recipientQuietEnd(at('2026-12-05T02:00:00Z'), ny, NARROW))).toBe('2026-12-05T13:00:00.000Z');
  });

  it('the same instant is 03:00 in London: outside a narrowed shop window, and no floor applies', () => {
    const london = recipientZones('+447700900123', null, 'America/New_York');
    expect(recipientQuietEnd(at('2026-12-05T03:00:00Z'), london, NARROW)).toBeNull();
    // The default window does apply to London at 03:00.
    expect(iso(recipientQuietEnd(at('2026-12-05T03:00:00Z'), london, { start: '21:00', end: '08:00' }))).toBe('2026-12-05T08:00:00.000Z');
  });

  it('a widened shop window holds US numbers longer than the floor', () => {
    const ny = recipientZones('+12125550100', null, 'UTC');
    // 08:30 EST: past the floor, inside a 20:00–10:00 shop window.
    expect(iso(recipientQuietEnd(at('2026-12-05T13:30:00Z'), ny, { start: '20:00', end: '10:00' }))).toBe('2026-12-05T15:00:00.000Z');
  });

  it('windows in several zones chain: quiet until every one of them is open', () => {
    const split = recipientZones('+18505550100', null, 'UTC');
    // 07:30 Eastern = 06:30 Central: open in New York at 08:00 ET, in Chicago at 08:00 CT = 09:00 ET = 14:00Z.
    expect(iso(recipientQuietEnd(at('2026-12-05T12:30:00Z'), split, NARROW))).toBe('2026-12-05T14:00:00.000Z');
  });
});

describe('sendTimeCheck', () => {
  it('answers per recipient at one instant', () => {
    const check = sendTimeCheck({ timezone: 'America/New_York', quietStart: '04:00', quietEnd: '05:00' }, at('2026-12-05T03:00:00Z'), { floor: true });
    expect(iso(check({ phone: '+12125550100', timezone: null }))).toBe('2026-12-05T13:00:00.000Z');
    expect(check({ phone: '+447700900123', timezone: null })).toBeNull();
    // A US number whose contact lives in London: the floor follows the number, in the contact's zone.
    expect(iso(check({ phone: '+12125550101', timezone: 'Europe/London' }))).toBe('2026-12-05T08:00:00.000Z');
  });
});

// NANP overlays (NANPA assignments): overlay -> the code whose territory it
// shares. An overlay's numbers sit anywhere in that territory, so it must list
// at least the base's zones; otherwise the far end of a straddling base is
// texted before the floor lifts there.
const OVERLAYS: ReadonlyArray<readonly [overlay: string, base: string]> = [
  // Bases that straddle zones.
  ['930', '812'], ['364', '270'], ['448', '850'], ['986', '208'], ['458', '541'],
  ['879', '709'], ['581', '418'], ['367', '418'],
  ['778', '250'], ['236', '250'], ['672', '250'], ['257', '250'],
  // BC's overlays cover 604 as well; others whose base sits in one zone.
  ['778', '604'], ['236', '604'], ['672', '604'], ['257', '604'],
  ['463', '317'], ['872', '312'], ['274', '920'], ['283', '513'], ['327', '870'], ['357', '559'],
  ['639', '306'], ['474', '306'], ['587', '403'], ['825', '403'], ['368', '403'], ['587', '780'],
  ['431', '204'], ['584', '204'], ['782', '902'], ['428', '506'], ['438', '514'], ['263', '514'],
];
// Codes whose exchanges straddle zones and that have no overlay in service.
const STRADDLING_WITHOUT_OVERLAY = new Set(['219', '308', '423', '480', '520', '602', '605', '606', '620', '701', '775', '785', '807', '867', '906', '928']);

describe('overlay area codes straddle the zones of the code they overlay', () => {
  const zonesOf = (areaCode: string): string[] => [...recipientZones(`+1${areaCode}5550100`, null, 'UTC').zones].sort();

  it.each(OVERLAYS)("+1 %s has the zones of %s", (overlay, base) => {
    expect(areaCodeCountry(overlay)).toBe(areaCodeCountry(base));
    expect(zonesOf(overlay)).toEqual(expect.arrayContaining(zonesOf(base)));
  });

  it('every area code of the table that straddles zones has its overlays listed above, or none in service', () => {
    const codes = Object.values(data.nanp as Record<string, Record<string, number[]>>).flatMap((zones) => Object.values(zones).flat().map(String));
    const related = new Set(OVERLAYS.flat());
    const unaccounted = [...new Set(codes)].filter((c) => zonesOf(c).length > 1 && !related.has(c) && !STRADDLING_WITHOUT_OVERLAY.has(c));
    expect(unaccounted).toEqual([]);
  });

  it('a +1 930 number in Evansville is not texted at 07:30 Central (08:30 Eastern): the legal floor', () => {
    const shop = { timezone: 'UTC', quietStart: '00:00', quietEnd: '00:00' };
    const now = at('2026-12-02T13:30:00Z');
    expect(iso(sendTimeCheck(shop, now, { floor: true })({ phone: '+18125550100', timezone: null }))).toBe('2026-12-02T14:00:00.000Z');
    expect(iso(sendTimeCheck(shop, now, { floor: true })({ phone: '+19305550100', timezone: null }))).toBe('2026-12-02T14:00:00.000Z');
  });
});
