import { isStorableText, toStorable } from './storable-text';

describe('storable text', () => {
  it.each([
    ['plain', true],
    ['émoji 😀 and CJK 漢字', true],
    ['tab\tand\nnewline', true],
    ['a\u0000b', false],
    ['lone high \ud800', false],
    ['lone low \udc00 here', false],
    ['reversed pair \ude00\ud83d', false],
  ])('%j storable: %s', (s, ok) => {
    expect(isStorableText(s)).toBe(ok);
  });

  it('replaces what Postgres cannot store in strings and keys, deep, and leaves the rest', () => {
    expect(toStorable({ a: 'x\u0000y', ['k\ud800']: ['\udc00', 1, null, true, { b: 'fine 😀' }] })).toEqual({ a: 'x\ufffdy', ['k\ufffd']: ['\ufffd', 1, null, true, { b: 'fine 😀' }] });
    expect(toStorable('a\u0000\u0000')).toBe('a\ufffd\ufffd');
    expect(toStorable(5)).toBe(5);
    expect(toStorable(null)).toBeNull();
  });
});
