/**
 * Where the demo's customers live. A shop's quiet hours (21:00–08:00) hold in
 * each recipient's own zone, read from the number (docs/compliance.md), so a
 * demo audience of New Jersey numbers run while New York sleeps waits for its
 * morning. The audience is numbered in a region where it is daytime now
 * (09:00–20:00, an hour's margin either side of the window); between them the
 * three regions cover every hour of the day, in winter and in summer.
 */
export interface DemoRegion {
  name: string;
  zone: string;
  /** Calling code and leading digits of valid mobile numbers, followed by `base + i`; the contacts' and the customers' ranges never meet. */
  contactPrefix: string;
  contactBase: number;
  customerPrefix: string;
  customerBase: number;
}

/** In order of preference: the app's merchants are mostly American. */
export const DEMO_REGIONS: readonly DemoRegion[] = [
  { name: 'New Jersey, US', zone: 'America/New_York', contactPrefix: '+1201', contactBase: 2_000_000, customerPrefix: '+1201', customerBase: 5_000_000 },
  { name: 'United Kingdom', zone: 'Europe/London', contactPrefix: '+4474', contactBase: 10_000_000, customerPrefix: '+4477', customerBase: 10_000_000 },
  { name: 'Japan', zone: 'Asia/Tokyo', contactPrefix: '+8190', contactBase: 10_000_000, customerPrefix: '+8180', customerBase: 10_000_000 },
];

export function localTime(zone: string, at: Date): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
}

/** The first region whose local hour at `at` is 09–19; null only if the table stopped covering the day. */
export function daytimeRegion(at = new Date()): { region: DemoRegion; local: string } | null {
  for (const region of DEMO_REGIONS) {
    const local = localTime(region.zone, at);
    const hour = Number(local.slice(0, 2));
    if (hour >= 9 && hour < 20) return { region, local };
  }
  return null;
}
