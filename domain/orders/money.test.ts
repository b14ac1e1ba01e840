import { minorUnitDigits, toMinorUnits, toSignedMinorUnits } from './money';

describe('toMinorUnits', () => {
  it.each([
    ['12.50', 'USD', 1250n],
    ['12.5', 'USD', 1250n],
    ['0.00', 'EUR', 0n],
    ['199', 'USD', 19900n],
    ['1500', 'JPY', 1500n],
    ['1500.4', 'JPY', 1500n],
    ['1500.5', 'JPY', 1501n],
    ['1.234', 'KWD', 1234n],
    ['0.105', 'USD', 11n],
    ['999999999999999.99', 'USD', 99999999999999999n],
  ])('%s %s → %s', (amount, currency, minor) => {
    expect(toMinorUnits(amount, currency)).toBe(minor);
  });

  it.each(['-1.00', '1e3', '', '12.', '.5', '1,000.00', '0x10'])('refuses %j', (amount) => {
    expect(toMinorUnits(amount, 'USD')).toBeNull();
  });

  it('knows currencies without a minor unit and with three digits', () => {
    expect([minorUnitDigits('JPY'), minorUnitDigits('USD'), minorUnitDigits('BHD')]).toEqual([0, 2, 3]);
  });
});

describe('toSignedMinorUnits', () => {
  it('reads a negative amount (an order adjustment) exactly, and refuses what is not a decimal', () => {
    expect([toSignedMinorUnits('-5.00', 'USD'), toSignedMinorUnits('12.5', 'USD'), toSignedMinorUnits('-0.105', 'USD'), toSignedMinorUnits('-1500', 'JPY')]).toEqual([-500n, 1250n, -11n, -1500n]);
    for (const bad of ['--1', '-', '+1.00', '1e3', '- 1']) expect(toSignedMinorUnits(bad, 'USD')).toBeNull();
  });
});
