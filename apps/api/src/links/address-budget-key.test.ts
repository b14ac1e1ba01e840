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
    // As a proxy may write it, with the client's source port: the port is no part of the key.
    ['203.0.113.7:52044', '203.0.113.7'],
    ['[2001:db8:7:2::1]:52044', '2001:db8:7:2::/64'],
    ['[2001:db8:7:2::1]', '2001:db8:7:2::/64'],
    ['[::ffff:203.0.113.7]:443', '203.0.113.7'],
    ['203.0.113.7:', '203.0.113.7:'],
    ['not an address', 'not an address'],
    ['x'.repeat(500), 'x'.repeat(64)],
  ])('%s → %s', (ip, key) => {
    expect(addressBudgetKey(ip)).toBe(key);
  });

  it('counts every connection of one client behind a proxy that writes ports as one client', () => {
    const keys = new Set([52044, 52045, 61000].map((port) => addressBudgetKey(`198.51.100.9:${port}`)));
    expect([...keys]).toEqual(['198.51.100.9']);
  });

  it('is empty for a request with no address', () => {
    expect(addressBudgetKey(undefined)).toBe('');
  });
});
