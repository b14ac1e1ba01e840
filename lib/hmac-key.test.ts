import { createHmac } from 'node:crypto';
import { hmacKey } from './hmac-key';

describe('hmacKey', () => {
  it('gives the HMAC the string secret gives, for ASCII and non-ASCII secrets', () => {
    for (const secret of ['dev-phone-hash-key-not-secret', 'clé-secrète-ü-✓-0123456789', 'a'.repeat(200)]) {
      for (const message of ['+447400000001', '', '12:34:0']) {
        expect(createHmac('sha256', hmacKey(secret)).update(message).digest('hex')).toBe(createHmac('sha256', secret).update(message).digest('hex'));
      }
    }
  });

  it('makes one key per secret and keeps working past its bound', () => {
    expect(hmacKey('first-secret-0000')).toBe(hmacKey('first-secret-0000'));
    for (let i = 0; i < 40; i++) hmacKey(`secret-number-${i}-padding`);
    const again = hmacKey('first-secret-0000');
    expect(createHmac('sha256', again).update('x').digest('hex')).toBe(createHmac('sha256', 'first-secret-0000').update('x').digest('hex'));
    expect(hmacKey('first-secret-0000')).toBe(again);
  });
});
