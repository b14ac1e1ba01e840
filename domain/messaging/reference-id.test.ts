import { idFromReference } from './reference-id';

describe('idFromReference', () => {
  it.each([
    ['r', 'r1', '1'],
    ['f', 'f9223372036854775807', '9223372036854775807'],
    ['k', 'k42', '42'],
  ] as const)('%s: %s names row %s', (prefix, reference, id) => {
    expect(idFromReference(prefix, reference)).toBe(id);
  });

  it.each([
    ['r', 'r9223372036854775808'], // one past bigint
    ['k', 'k9999999999999999999'],
    ['r', 'r01'],
    ['r', 'r0'],
    ['r', 'r'],
    ['r', 'f1'],
    ['r', 'r1 '],
    ['r', 'r12345678901234567890'],
    ['r', ''],
    ['r', null],
    ['r', undefined],
  ] as const)('%s: %p names nothing', (prefix, reference) => {
    expect(idFromReference(prefix, reference)).toBeNull();
  });
});
