import { mergeRefundTransactions } from './merge-refund-transactions';
import type { RefundTransactionFact } from './refund-amounts';

describe('mergeRefundTransactions', () => {
  const fact = (id: string, state: RefundTransactionFact['state'], o: Partial<RefundTransactionFact> = {}): RefundTransactionFact => ({
    transactionId: id, parentId: null, refundId: null, currency: 'EUR', amountMinor: 2760n, state, shop: null, ...o,
  });
  const fromRefund = fact('7', 'pending', { refundId: 'r', parentId: 's', shop: { currency: 'USD', amountMinor: 3000n } });
  const succeeded = fact('7', 'success', { parentId: 's' });

  it('keeps the furthest state with what each source knows, whatever the order and however often', () => {
    const want: RefundTransactionFact[] = [{ ...fromRefund, state: 'success' }];
    expect(mergeRefundTransactions([fromRefund], [succeeded])).toEqual(want);
    expect(mergeRefundTransactions([succeeded], [fromRefund])).toEqual(want);
    expect(mergeRefundTransactions(mergeRefundTransactions([succeeded], [fromRefund]), [succeeded, fromRefund])).toEqual(want);
    // A state reported after the end (a redelivered pending) moves nothing back.
    expect(mergeRefundTransactions(want, [fromRefund])).toEqual(want);
  });

  it('folds a later state reported as a child transaction into its parent, arriving before or after it', () => {
    const child = fact('8', 'success', { parentId: '7' });
    const want: RefundTransactionFact[] = [{ ...fromRefund, state: 'success' }];
    expect(mergeRefundTransactions([fromRefund], [child])).toEqual(want);
    expect(mergeRefundTransactions([child], [fromRefund])).toEqual(want);
    // Its grandchild too, and the child sent again changes nothing.
    const grandchild = fact('9', 'success', { parentId: '8' });
    expect(mergeRefundTransactions([child, grandchild], [fromRefund])).toEqual(want);
    expect(mergeRefundTransactions(want, [child])).toEqual(want);
  });
});
