import { audienceOf, describeAudience, EMPTY_AUDIENCE_FIELDS, fieldsOf, minorOf, type AudienceFields } from '../apps/admin/src/audience';
import { audienceSchema } from '../domain/campaigns/campaign-input';

// The composer's audience fields ⇄ the api's audience document
// (apps/admin/src/audience.ts): what the merchant types is what the api
// stores, and what the api stores comes back unchanged.

const fields = (f: Partial<AudienceFields>): AudienceFields => ({ ...EMPTY_AUDIENCE_FIELDS, ...f });

describe('admin audience fields', () => {
  it('reads amounts in the currency and sends minor units', () => {
    expect(minorOf('49.99')).toBe(4999);
    expect(minorOf('50')).toBe(5000);
    expect(minorOf('0.5')).toBe(50);
    expect(minorOf('12,30')).toBe(1230);
    for (const bad of ['', '-1', '1.234', 'abc', '1e3']) expect(minorOf(bad)).toBeNull();
  });

  it('builds every order filter the api takes, and the api accepts it', () => {
    const { audience, errors } = audienceOf(
      fields({ tags: 'VIP, vip ,  newsletter', minOrders: '2', maxOrders: '10', minSpent: '50', maxSpent: '500.00', lastFrom: '2026-11-01', lastTo: '2026-11-30' }),
      {},
      'America/New_York',
    );
    expect(errors).toEqual({});
    expect(audience).toEqual({
      tags: ['vip', 'newsletter'],
      ordersCount: { min: 2, max: 10 },
      amountSpent: { min: 5000, max: 50000 },
      // Whole days in New York (EDT then EST: UTC−4 on Nov 1, UTC−5 on Nov 30).
      lastOrderAt: { from: '2026-11-01T04:00:00.000Z', to: '2026-12-01T04:59:59.999Z' },
    });
    expect(audienceSchema.safeParse(audience).success).toBe(true);
    expect(describeAudience(audience, 'America/New_York')).toBe(
      'subscribers tagged vip, newsletter; 2–10 orders; spent 50.00–500.00; last order Nov 1, 2026 – Nov 30, 2026',
    );
  });

  it('"never ordered" is at most 0 orders; empty fields are no filter', () => {
    expect(audienceOf(fields({ maxOrders: '0' }), {}, 'UTC').audience).toEqual({ ordersCount: { max: 0 } });
    expect(audienceOf(fields({}), {}, 'UTC').audience).toEqual({});
  });

  it('a wrong bound is shown on its field and left out, so the estimate stays live', () => {
    const r = audienceOf(fields({ minOrders: '1.5', minSpent: '100', maxSpent: '10', lastFrom: '2026-11-30', lastTo: '2026-11-01' }), {}, 'UTC');
    expect(r.errors).toEqual({ minOrders: 'Enter a whole number of orders', maxSpent: 'Must not be less than the minimum', lastTo: 'Must not be before the first day' });
    expect(r.audience).toEqual({ amountSpent: { min: 10000 }, lastOrderAt: { from: '2026-11-30T00:00:00.000Z' } });
    expect(audienceSchema.safeParse(r.audience).success).toBe(true);
  });

  it('an audience set through the api comes back unchanged when its fields are not touched', () => {
    const stored = { tags: ['vip'], ordersCount: { max: 3 }, amountSpent: { min: 1999 }, lastOrderAt: { from: '2026-11-05T14:30:00.000Z', to: '2026-11-20T09:15:00.000Z' } };
    const shown = fieldsOf(stored, 'Europe/Paris');
    expect(shown).toEqual({ tags: 'vip', minOrders: '', maxOrders: '3', minSpent: '19.99', maxSpent: '', lastFrom: '2026-11-05', lastTo: '2026-11-20' });
    expect(audienceOf(shown, stored, 'Europe/Paris').audience).toEqual(stored);
    // A day the merchant changes is sent as that whole day.
    expect(audienceOf({ ...shown, lastTo: '2026-11-21' }, stored, 'Europe/Paris').audience.lastOrderAt).toEqual({ from: '2026-11-05T14:30:00.000Z', to: '2026-11-21T22:59:59.999Z' });
  });
});
