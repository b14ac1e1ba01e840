import fc from 'fast-check';
import { canonicalJson, requestFingerprint } from './fingerprint';

describe('request fingerprint', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('is the same for reordered keys and differs for different values', () => {
    const a = requestFingerprint({ params: { id: 'x' }, body: { name: 'n', audience: { tags: ['a'] } } });
    const b = requestFingerprint({ params: { id: 'x' }, body: { audience: { tags: ['a'] }, name: 'n' } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(requestFingerprint({ params: { id: 'y' }, body: { name: 'n', audience: { tags: ['a'] } } })).not.toBe(a);
    expect(requestFingerprint({ params: { id: 'x' }, body: { name: 'n', audience: { tags: ['b'] } } })).not.toBe(a);
  });

  it('treats a missing body as an empty object', () => {
    expect(requestFingerprint({ params: {}, body: undefined })).toBe(requestFingerprint({ params: {}, body: {} }));
  });

  it('any key order of the same JSON value gives the same fingerprint', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const shuffled = JSON.parse(JSON.stringify(value, (_k, v: unknown) =>
          v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v)) as unknown;
        expect(canonicalJson(shuffled)).toBe(canonicalJson(value));
      }),
    );
  });
});
