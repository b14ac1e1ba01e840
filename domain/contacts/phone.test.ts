import { createHash } from 'node:crypto';
import { isPhoneCountry, normalizePhone, phoneHash } from './phone';

describe('normalizePhone', () => {
  it.each([
    ['(201) 555-0123', 'US', '+12015550123'],
    ['201.555.0123', 'US', '+12015550123'],
    ['+1 201 555 0123', undefined, '+12015550123'],
    ['+44 20 7946 0958', undefined, '+442079460958'],
    ['0044 20 7946 0958', undefined, '+442079460958'],
    ['0044 20 7946 0958', 'US', '+442079460958'],
    ['011 44 20 7946 0958', 'US', '+442079460958'],
    // The country's own international prefix, when it is not "00".
    ['0011 44 20 7946 0958', 'AU', '+442079460958'],
    ['0011 61 412 345 678', 'AU', '+61412345678'],
    ['001 44 20 7946 0958', 'SG', '+442079460958'],
    ['002 44 20 7946 0958', 'TW', '+442079460958'],
    ['0044 20 7946 0958', 'AU', '+442079460958'],
    ['0412 345 678', 'AU', '+61412345678'],
    ['020 7946 0958', 'GB', '+442079460958'],
    ['  +49 30 901820  ', undefined, '+4930901820'],
  ] as const)('%s (%s) → %s', (raw, country, e164) => {
    expect(normalizePhone(raw, country)).toBe(e164);
  });

  it.each([
    ['too short', '+1 201 555', undefined],
    ['right length, no such area code', '+1 999 555 0123', undefined],
    ['one digit short (UK)', '+44 20 7946 095', undefined],
    ['national without a country', '(201) 555-0123', undefined],
    ['letters', '+1 800 FLOWERS', undefined],
    ['an extension', '+1 201 555 0123 ext 5', undefined],
    ['empty', '', undefined],
    ['a number invalid in the given country', '555-0123', 'GB'],
  ] as const)('rejects %s', (_why, raw, country) => {
    expect(normalizePhone(raw, country)).toBeNull();
  });
});

describe('phoneHash', () => {
  it('is the sha256 hex of the E.164 string', () => {
    expect(phoneHash('+12015550123')).toBe(createHash('sha256').update('+12015550123').digest('hex'));
    expect(phoneHash('+12015550123')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('isPhoneCountry', () => {
  it('knows ISO alpha-2 codes with metadata, upper case only', () => {
    expect(isPhoneCountry('US')).toBe(true);
    expect(isPhoneCountry('GB')).toBe(true);
    expect(isPhoneCountry('us')).toBe(false);
    expect(isPhoneCountry('XX')).toBe(false);
    expect(isPhoneCountry('USA')).toBe(false);
  });
});
