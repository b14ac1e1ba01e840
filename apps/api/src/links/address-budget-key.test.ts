import { addressBudgetKey } from './address-budget-key';

describe('the key a per-address link limit counts under', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:7:2::1', '2001:db8:7:2::/64'],
    ['2001:0DB8:0007:0002:ffff:1:2:3', '2001:db8:7:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::203.0.113.7', '64:ff9b:0:0::/64'],
    ['not an address', 'not an address'],
    ['x'.repeat(500), 'x'.repeat(64)],
  ])('%s → %s', (ip, key) => {
    expect(addressBudgetKey(ip)).toBe(key);
  });

  it('is empty for a request with no address', () => {
    expect(addressBudgetKey(undefined)).toBe('');
  });
});
