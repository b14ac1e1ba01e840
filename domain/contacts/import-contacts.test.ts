import { phoneHash } from './phone';
import { collapseByPhone, validateImportRows } from './import-contacts';

describe('validateImportRows', () => {
  it('keeps absolute row indexes and names the problem', () => {
    const { valid, rejected } = validateImportRows([{ phone: '2015550123' }, { phone: '+12015550124', extra: 1 }, 'x'], 40, 'US');
    expect(valid.map((v) => [v.row, v.input.phoneE164])).toEqual([[40, '+12015550123']]);
    expect(rejected).toEqual([
      { row: 41, code: 'VALIDATION_FAILED', message: expect.stringContaining('extra') },
      { row: 42, code: 'VALIDATION_FAILED', message: expect.any(String) },
    ]);
  });

  it('reports an invalid number as INVALID_PHONE', () => {
    expect(validateImportRows([{ phone: '+19995550123' }], 0).rejected).toEqual([{ row: 0, code: 'INVALID_PHONE', message: expect.stringMatching(/^phone: /) }]);
  });
});

describe('collapseByPhone', () => {
  const input = (phone: string, o: Record<string, unknown> = {}) => ({ phoneE164: phone, phoneHash: phoneHash(phone), ...o });

  it('merges rows of one number in order: later values win, tags add up, pending decides nothing', () => {
    const groups = collapseByPhone([
      input('+12015550123', { firstName: 'A', tags: ['x'], smsConsent: 'subscribed' }),
      input('+12015550124', { smsConsent: 'pending' }),
      input('+12015550123', { lastName: 'B', tags: ['y', 'x'], smsConsent: 'pending' }),
      input('+12015550123', { firstName: 'C', smsConsent: 'unsubscribed' }),
    ]);
    expect(groups).toEqual([
      { rows: 3, upsert: input('+12015550123', { firstName: 'C', lastName: 'B', tags: ['x', 'y'], smsConsent: 'unsubscribed' }) },
      { rows: 1, upsert: input('+12015550124', { smsConsent: undefined }) },
    ]);
  });

  it('keeps an opt-out a row of the number recorded: a later subscribed row does not lift it, as the upserts one by one would not', () => {
    const groups = collapseByPhone([
      input('+12015550123', { smsConsent: 'unsubscribed' }),
      input('+12015550123', { firstName: 'C', smsConsent: 'subscribed' }),
    ]);
    expect(groups).toEqual([{ rows: 2, upsert: input('+12015550123', { firstName: 'C', smsConsent: 'unsubscribed' }) }]);
  });
});
