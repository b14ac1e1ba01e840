import { successfulRefundAmounts } from './refund-amounts';

describe('successfulRefundAmounts', () => {
  it('sums the successful refund transactions per currency, exactly, in minor units', () => {
    expect(
      successfulRefundAmounts([
        { kind: 'refund', status: 'success', amount: '10.10', currency: 'USD' },
        { kind: 'refund', status: 'success', amount: '0.20', currency: 'USD' },
        { kind: 'refund', status: 'success', amount: '1500', currency: 'JPY' },
        { kind: 'REFUND', status: 'SUCCESS', amount: '0.005', currency: 'KWD' },
      ]),
    ).toEqual([
      { currency: 'JPY', amountMinor: 1500n },
      { currency: 'KWD', amountMinor: 5n },
      // 10.10 + 0.20 is 10.299999… in floats; here it is 1 030 cents.
      { currency: 'USD', amountMinor: 1030n },
    ]);
  });

  it('leaves out what returned nothing: pending, failed or errored refunds, other kinds, no currency, zero', () => {
    expect(
      successfulRefundAmounts([
        { kind: 'refund', status: 'pending', amount: '5.00', currency: 'USD' },
        { kind: 'refund', status: 'failure', amount: '5.00', currency: 'USD' },
        { kind: 'refund', status: 'error', amount: '5.00', currency: 'USD' },
        { kind: 'refund', status: null, amount: '5.00', currency: 'USD' },
        { kind: 'sale', status: 'success', amount: '5.00', currency: 'USD' },
        { kind: 'void', status: 'success', amount: '5.00', currency: 'USD' },
        { kind: 'refund', status: 'success', amount: '5.00', currency: null },
        { kind: 'refund', status: 'success', amount: '0.00', currency: 'USD' },
      ]),
    ).toEqual([]);
  });
});
