import data from './data/phone-time-zones.json';
import { isValidTimeZone } from './quiet-hours';

// Where a recipient is, for quiet hours: the contact's own zone when the
// merchant gave one, else the phone number's (a North American area code, or
// the country's calling code), else the shop's. North American numbers of
// the US (and its territories) and Canada also carry the legal floor.

/** Countries whose numbers are never texted before 08:00 or after 21:00 local, whatever the shop's setting. */
const FLOOR_COUNTRIES = new Set(['US', 'CA', 'PR', 'VI', 'GU', 'MP', 'AS']);

/**
 * An area code that is not in the table yet (a new overlay) is most likely
 * in the US or Canada: the floor then holds in each of these zones at once,
 * from 08:00 in Honolulu to 21:00 in New York.
 */
const UNKNOWN_NANP_FLOOR_ZONES = ['America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'America/Anchorage', 'Pacific/Honolulu'];

interface AreaCode {
  country: string;
  zones: string[];
}

const AREA_CODES: ReadonlyMap<string, AreaCode> = (() => {
  const out = new Map<string, AreaCode>();
  for (const [country, zones] of Object.entries(data.nanp as Record<string, Record<string, number[]>>)) {
    for (const [zone, codes] of Object.entries(zones)) {
      for (const code of codes) {
        const key = String(code);
        const entry = out.get(key) ?? { country, zones: [] };
        if (!entry.zones.includes(zone)) entry.zones.push(zone);
        out.set(key, entry);
      }
    }
  }
  return out;
})();

const CALLING_CODES: ReadonlyMap<string, string> = new Map(Object.entries(data.countries as Record<string, string>));

export interface RecipientZones {
  /** The zones the shop's quiet window is applied in (quiet if quiet in any). */
  zones: string[];
  /** The zones the legal floor (21:00–08:00) is applied in; empty when the number carries none. */
  floorZones: string[];
  source: 'contact' | 'area_code' | 'country' | 'shop';
}

/**
 * The recipient's zones. `contactZone` wins when valid; a zone the runtime
 * does not know is ignored like a missing one. An area code whose exchanges
 * straddle zones gives all of them: quiet in any is quiet, so nobody is
 * texted early at the far end of their area code.
 */
export function recipientZones(phone: string | null, contactZone: string | null, shopZone: string): RecipientZones {
  const shop = isValidTimeZone(shopZone) ? shopZone : 'UTC';
  const own = contactZone && isValidTimeZone(contactZone) ? contactZone : null;
  if (phone?.startsWith('+1')) {
    const area = AREA_CODES.get(phone.slice(2, 5));
    const floor = area ? FLOOR_COUNTRIES.has(area.country) : true;
    if (own) return { zones: [own], floorZones: floor ? [own] : [], source: 'contact' };
    if (area) return { zones: area.zones, floorZones: floor ? area.zones : [], source: 'area_code' };
    return { zones: [shop], floorZones: UNKNOWN_NANP_FLOOR_ZONES, source: 'shop' };
  }
  if (own) return { zones: [own], floorZones: [], source: 'contact' };
  if (phone?.startsWith('+')) {
    // Longest first: the table splits a shared calling code by its next digit (+7 6/7 is Kazakhstan).
    for (const len of [3, 2, 1]) {
      const zone = CALLING_CODES.get(phone.slice(1, 1 + len));
      if (zone) return { zones: [zone], floorZones: [], source: 'country' };
    }
  }
  return { zones: [shop], floorZones: [], source: 'shop' };
}

/** The area codes the table knows, by country (tests and docs). */
export function areaCodeCountry(areaCode: string): string | null {
  return AREA_CODES.get(areaCode)?.country ?? null;
}
