import { ratio } from './campaign-performance';

// Revenue per message and per credit: the attributed total in minor units ÷ a
// count, in major units with two digits more than the currency has, exact
// and rounded half up (as money.ts rounds Shopify's amounts).

describe('revenue per message or credit', () => {
  it.each([
    // 10.03 ÷ 8 = 1.25375 exactly: a tie, up (a float quotient gives 1.2537).
    [1003n, 8, 'USD', '1.2538'],
    [1n, 8, 'USD', '0.0013'], // 0.00125
    [3n, 8, 'USD', '0.0038'], // 0.00375
    [1n, 3, 'USD', '0.0033'],
    [2n, 3, 'USD', '0.0067'],
    [37n, 100, 'USD', '0.0037'],
    [5250n, 4, 'USD', '13.1250'],
    [0n, 8, 'USD', '0.0000'],
    [1n, 200, 'USD', '0.0001'], // 0.00005: a tie, up
    [1n, 201, 'USD', '0.0000'],
    // JPY has no minor unit: two digits; KWD has three: five.
    [1500n, 8, 'JPY', '187.50'],
    [1n, 8, 'JPY', '0.13'], // 0.125
    [1n, 8, 'KWD', '0.00013'], // 0.000125
    [1003n, 8, 'KWD', '0.12538'],
  ] as const)('%s minor units ÷ %s in %s → %s', (total, n, currency, expected) => {
    expect(ratio(total, n, currency)).toBe(expected);
  });

  it('stays exact beyond 2^53 minor units', () => {
    // 2^53 + 1 cents has no float; ÷ 1 is itself.
    expect(ratio(9_007_199_254_740_993n, 1, 'USD')).toBe('90071992547409.9300');
    // 12 345 678 901 234 567 891 cents ÷ 8 = 1 543 209 862 654 320 986.375 cents.
    expect(ratio(12_345_678_901_234_567_891n, 8, 'USD')).toBe('15432098626543209.8638');
    expect(ratio(12_345_678_901_234_567_891n, 7, 'USD')).toBe('17636684144620811.2729');
  });

  it('is null with nothing to divide by', () => {
    expect(ratio(1003n, 0, 'USD')).toBeNull();
    expect(ratio(0n, 0, 'USD')).toBeNull();
    expect(ratio(1003n, -1, 'USD')).toBeNull();
  });
});
