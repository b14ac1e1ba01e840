import { randomBytes } from 'node:crypto';
import { createTokenCipher, keyId } from './token-cipher';

const k1 = randomBytes(32).toString('hex');
const k2 = randomBytes(32).toString('base64');

describe('token cipher (AES-256-GCM)', () => {
  it('round-trips, with a fresh IV each time, and never carries the plaintext', () => {
    const c = createTokenCipher(k1);
    const a = c.encrypt('shpat_secret_value', 'shop:1');
    const b = c.encrypt('shpat_secret_value', 'shop:1');
    expect(a).not.toBe(b);
    expect(a).not.toContain('shpat');
    expect(a).toMatch(/^v1:[0-9a-f]{16}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/);
    expect(a.split(':')[1]).toBe(keyId(Buffer.from(k1, 'hex')));
    expect(c.decrypt(a, 'shop:1')).toEqual({ plaintext: 'shpat_secret_value', keyId: c.currentKeyId, stale: false });
  });

  it('refuses another record, a tampered envelope and an unknown key', () => {
    const c = createTokenCipher(k1);
    const e = c.encrypt('tok', 'shop:1');
    expect(c.decrypt(e, 'shop:2')).toBeNull();
    const parts = e.split(':');
    const ct = Buffer.from(parts[4]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    expect(c.decrypt([...parts.slice(0, 4), ct.toString('base64url')].join(':'), 'shop:1')).toBeNull();
    expect(createTokenCipher(k2).decrypt(e, 'shop:1')).toBeNull();
    expect(c.decrypt('shpat_plain', 'shop:1')).toBeNull();
  });

  it('reads a previous key (stale) and writes only with the current one', () => {
    const old = createTokenCipher(k1);
    const e = old.encrypt('tok', 'shop:1');
    const rotated = createTokenCipher(k2, [k1]);
    expect(rotated.decrypt(e, 'shop:1')).toMatchObject({ plaintext: 'tok', stale: true });
    const again = rotated.encrypt('tok', 'shop:1');
    expect(again.split(':')[1]).toBe(rotated.currentKeyId);
    expect(createTokenCipher(k2).decrypt(again, 'shop:1')).toMatchObject({ plaintext: 'tok', stale: false });
  });
});
