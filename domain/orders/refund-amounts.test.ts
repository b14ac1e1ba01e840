import { refundTotals, refundTransactionFact, refundTransactionFacts, type RefundMoneyPart, type RefundTransactionFact, type ShopifyTransaction } from './refund-amounts';

const tx = (id: string, amount: string, o: Partial<ShopifyTransaction> = {}): ShopifyTransaction => ({
  id, parentId: null, kind: 'refund', status: 'success', amount, currency: 'USD', ...o,
});
const part = (shop: string, presentment: string, sign: 1 | -1 = 1, currencies: [string, string] = ['USD', 'EUR']): RefundMoneyPart => ({
  sign, money: { shop: { amount: shop, currency: currencies[0] }, presentment: { amount: presentment, currency: currencies[1] } },
});

describe('refundTransactionFact', () => {
  it('reads a refund transaction exactly, in minor units, with where it stands', () => {
    expect(refundTransactionFact(tx('1', '10.10'), 'r')).toEqual({ transactionId: '1', parentId: null, refundId: 'r', currency: 'USD', amountMinor: 1010n, state: 'success', shop: null });
    expect(refundTransactionFact(tx('2', '0.005', { currency: 'KWD', kind: 'REFUND', status: 'SUCCESS' }), null)).toMatchObject({ amountMinor: 5n, state: 'success' });
    expect(refundTransactionFact(tx('3', '1500', { currency: 'JPY', status: 'pending' }), null)).toMatchObject({ amountMinor: 1500n, state: 'pending' });
    expect(refundTransactionFact(tx('4', '5.00', { status: null }), null)).toMatchObject({ state: 'pending' });
    expect(refundTransactionFact(tx('5', '5.00', { status: 'failure' }), null)).toMatchObject({ state: 'failed' });
    expect(refundTransactionFact(tx('6', '5.00', { status: 'error' }), null)).toMatchObject({ state: 'failed' });
  });

  it('leaves out what is no refund money: other kinds, no currency, zero', () => {
    for (const t of [tx('1', '5.00', { kind: 'sale' }), tx('2', '5.00', { kind: 'void' }), tx('3', '5.00', { currency: null }), tx('4', '0.00')]) {
      expect(refundTransactionFact(t, null)).toBeNull();
    }
  });
});

describe('refundTotals', () => {
  it('adds the parts and subtracts the order adjustments, in both currencies, exactly', () => {
    // A line item 30.00 USD / 27.60 EUR with its tax, shipping, and a shipping adjustment of -5 (Shopify writes it negative: +5 refunded).
    expect(refundTotals([part('30.00', '27.60'), part('2.10', '1.93'), part('-5.00', '-4.60', -1)])).toEqual({
      shopCurrency: 'USD', shopMinor: 3710n, presentmentCurrency: 'EUR', presentmentMinor: 3413n,
    });
    // A refund discrepancy (less given back than the items): subtracted.
    expect(refundTotals([part('30.00', '27.60'), part('10.00', '9.20', -1)])).toMatchObject({ shopMinor: 2000n, presentmentMinor: 1840n });
  });

  it('says nothing when the parts do not: none, currencies that disagree, a total not above zero, an amount not a decimal', () => {
    expect(refundTotals([])).toBeNull();
    expect(refundTotals([part('1.00', '1.00'), part('1.00', '1.00', 1, ['USD', 'GBP'])])).toBeNull();
    expect(refundTotals([part('1.00', '1.00'), part('1.00', '1.00', -1)])).toBeNull();
    expect(refundTotals([part('1e3', '1.00')])).toBeNull();
  });
});

describe('refundTransactionFacts', () => {
  const shares = (facts: RefundTransactionFact[]) => facts.map((f) => [f.transactionId, f.shop?.amountMinor ?? null]);

  it("gives one transaction paid in the customer's currency the refund's shop-money total itself", () => {
    const facts = refundTransactionFacts('r', [tx('7', '27.60', { currency: 'EUR', status: 'pending' })], [part('30.00', '27.60')]);
    expect(facts).toEqual([{ transactionId: '7', parentId: null, refundId: 'r', currency: 'EUR', amountMinor: 2760n, state: 'pending', shop: { currency: 'USD', amountMinor: 3000n } }]);
  });

  it('splits it over several by their amounts, exactly: the parts add up to the total', () => {
    // 100.00 USD refunded as 33.33 + 33.33 + 33.34 EUR of 100.00 EUR: floor of the running share, so nothing is lost or made up.
    const facts = refundTransactionFacts('r', [tx('12', '33.33', { currency: 'EUR' }), tx('9', '33.33', { currency: 'EUR' }), tx('100', '33.34', { currency: 'EUR' })], [part('100.00', '100.00')]);
    expect(shares(facts)).toEqual([['12', 3333n], ['9', 3333n], ['100', 3334n]]);
    const odd = refundTransactionFacts('r', [tx('1', '1.00', { currency: 'EUR' }), tx('2', '1.00', { currency: 'EUR' }), tx('3', '1.00', { currency: 'EUR' })], [part('1.00', '3.00')]);
    expect(shares(odd)).toEqual([['1', 33n], ['2', 33n], ['3', 34n]]);
    expect(odd.reduce((s, f) => s + f.shop!.amountMinor, 0n)).toBe(100n);
  });

  it("leaves a transaction in the shop's currency (exact already), a single-currency refund and a refund with no money bags as they are", () => {
    expect(shares(refundTransactionFacts('r', [tx('1', '30.00')], [part('30.00', '27.60')]))).toEqual([['1', null]]);
    expect(shares(refundTransactionFacts('r', [tx('1', '30.00')], [part('30.00', '30.00', 1, ['USD', 'USD'])]))).toEqual([['1', null]]);
    expect(shares(refundTransactionFacts('r', [tx('1', '9.00', { currency: 'EUR' })], []))).toEqual([['1', null]]);
  });

  it("gives no part to a later state listed with its parent (the same money): the parent has it", () => {
    const facts = refundTransactionFacts('r', [tx('5', '27.60', { currency: 'EUR', status: 'pending' }), tx('6', '27.60', { currency: 'EUR', parentId: '5' })], [part('30.00', '27.60')]);
    expect(shares(facts)).toEqual([['5', 3000n], ['6', null]]);
  });
});
