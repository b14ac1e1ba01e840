import { decimalMoney, minorDigits, money, revenueRates, revenueTotal, unitPrice } from '../apps/admin/src/format';
import { minorToDecimal, minorUnitDigits } from '../domain/orders/money';

// The admin's money formats (apps/admin/src/format.ts): minor units in the
// currency's own minor unit (the api's, domain/orders/money.ts), and the
// api's rates per message with the two digits past the currency it gives.

const NBSP = '\u00a0';

describe('admin money formats', () => {
  it('read minor units in the currency’s minor unit, not always cents', () => {
    expect(money(1500, 'USD')).toBe('$15.00');
    expect(money(1500, 'JPY')).toBe('¥1,500');
    expect(money(1234, 'KWD')).toBe(`KWD${NBSP}1.234`);
    expect(money(1003, 'EUR')).toBe('€10.03');
    expect(money(0, 'JPY')).toBe('¥0');
  });

  it('agree with the api on every currency’s minor unit', () => {
    for (const currency of ['USD', 'EUR', 'GBP', 'JPY', 'KRW', 'VND', 'CLP', 'ISK', 'KWD', 'BHD', 'JOD', 'OMR', 'TND', 'HUF', 'TWD', 'XXX', 'nope']) {
      expect([currency, minorDigits(currency)]).toEqual([currency, minorUnitDigits(currency)]);
    }
    // What the api writes as decimal text, the admin shows from the same minor units.
    expect(money(1500, 'JPY')).toBe(`¥${Number(minorToDecimal(1500n, 'JPY')).toLocaleString('en-US')}`);
  });

  it('show a unit price to two digits past the currency’s own', () => {
    expect(unitPrice(0.8, 'USD')).toBe('$0.008');
    expect(unitPrice(1000 / 3, 'USD')).toBe('$3.3333');
    expect(unitPrice(0.8, 'JPY')).toBe('¥0.8');
    expect(unitPrice(2.5, 'JPY')).toBe('¥2.5');
  });

  it('show the api’s decimal text exactly, with the digits asked for', () => {
    expect(decimalMoney('52.50', 'USD', { locale: 'en-US' })).toBe('$52.50');
    expect(decimalMoney('1500', 'JPY', { locale: 'en-US' })).toBe('¥1,500');
    expect(decimalMoney('0.0037', 'USD', { extraDigits: 2, locale: 'en-US' })).toBe('$0.0037');
    expect(decimalMoney('90071992547409.9300', 'USD', { extraDigits: 2, locale: 'en-US' })).toBe('$90,071,992,547,409.93');
    expect(decimalMoney('12345678901234567.8638', 'USD', { extraDigits: 2, locale: 'en-US' })).toBe('$12,345,678,901,234,567.8638');
    expect(decimalMoney('1.5', 'NOPE!', { locale: 'en-US' })).toBe('1.5 NOPE!');
  });
});

describe('campaign results', () => {
  it('show revenue per message and per credit to two digits past the currency’s own, as the api gives them', () => {
    expect(revenueRates({ currency: 'USD', perMessage: '0.0037', perCredit: '0.0019' }, 'en-US')).toBe('USD: $0.0037 per message, $0.0019 per credit');
    expect(revenueRates({ currency: 'USD', perMessage: '1.2538', perCredit: '1.2500' }, 'en-US')).toBe('USD: $1.2538 per message, $1.25 per credit');
    expect(revenueRates({ currency: 'JPY', perMessage: '187.50', perCredit: null }, 'en-US')).toBe('JPY: ¥187.5 per message, — per credit');
    expect(revenueRates({ currency: 'KWD', perMessage: '0.12538', perCredit: '0.00000' }, 'en-US')).toBe(`KWD: KWD${NBSP}0.12538 per message, KWD${NBSP}0.000 per credit`);
  });
});

describe('flow results', () => {
  it('show revenue per currency from the api’s decimal text, exactly', () => {
    expect(revenueTotal([{ currency: 'USD', amount: '90071992547409.93' }], 'en-US')).toBe('$90,071,992,547,409.93');
    expect(revenueTotal([{ currency: 'JPY', amount: '1500' }, { currency: 'USD', amount: '52.50' }], 'en-US')).toBe('¥1,500 + $52.50');
    expect(revenueTotal([{ currency: 'KWD', amount: '1.234' }], 'en-US')).toBe(`KWD${NBSP}1.234`);
    expect(revenueTotal([], 'en-US')).toBe('0');
    expect(revenueTotal(undefined, 'en-US')).toBe('0');
  });
});
