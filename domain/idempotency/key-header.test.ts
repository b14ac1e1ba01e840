import { parseIdempotencyKey } from './key-header';

describe('parseIdempotencyKey', () => {
  it('absent is null', () => {
    expect(parseIdempotencyKey(undefined)).toBeNull();
  });

  it.each([
    ['abc', 'abc'],
    ['"abc"', 'abc'],
    ['  abc  ', 'abc'],
    ['"a \\"quoted\\" \\\\ key"', 'a "quoted" \\ key'],
    ['a"b', 'a"b'],
    ['"', '"'],
    ['k'.repeat(255), 'k'.repeat(255)],
    [`"${'k'.repeat(255)}"`, 'k'.repeat(255)],
  ])('%s names the key %s', (header, key) => {
    expect(parseIdempotencyKey(header)).toBe(key);
  });

  it.each(['', '   ', '""', 'k'.repeat(256), `"${'k'.repeat(256)}"`, 'tab\tinside', 'naïve', '"un"escaped"', '"bad\\escape"', '"trailing\\"'])(
    '%j is IDEMPOTENCY_KEY_INVALID',
    (header) => {
      expect(() => parseIdempotencyKey(header)).toThrow(expect.objectContaining({ code: 'IDEMPOTENCY_KEY_INVALID' }));
    },
  );
});
