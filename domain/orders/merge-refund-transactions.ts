import type { RefundTransactionFact, RefundTransactionState } from './refund-amounts';

const RANK: Record<RefundTransactionState, number> = { pending: 0, failed: 1, success: 2 };

/**
 * `later` is news of the same refund transaction as `base` (its own id sent
 * again, or a transaction whose parent it is): a transaction only moves from
 * pending to an end, so the furthest state wins, with its amount. The links
 * (refund, parent) and the shop-money part are kept once known. Every
 * choice is a max or a first-known, so the outcome is the same whatever
 * order the news arrives in and however often.
 */
function mergeFact(base: RefundTransactionFact, later: RefundTransactionFact): RefundTransactionFact {
  const winner = RANK[later.state] > RANK[base.state] ? later : base;
  const shop = base.shop ?? later.shop;
  return {
    transactionId: base.transactionId,
    parentId: base.parentId ?? later.parentId,
    refundId: base.refundId ?? later.refundId,
    currency: winner.currency,
    amountMinor: winner.amountMinor,
    state: winner.state,
    // A part in the shop's currency is for a transaction paid in another one.
    shop: shop && shop.currency !== winner.currency ? shop : null,
  };
}

/**
 * The refund transactions of one order once `incoming` is applied to what is
 * stored: one row per transaction id; a transaction whose parent is another
 * refund transaction of the order is a later state of that one (the same
 * money) and is folded into it, so a refund that succeeds later counts once
 * whether Shopify reports the new state under the same id or as a child.
 */
export function mergeRefundTransactions(stored: RefundTransactionFact[], incoming: RefundTransactionFact[]): RefundTransactionFact[] {
  const rows = new Map<string, RefundTransactionFact>(stored.map((f) => [f.transactionId, f]));
  for (const f of incoming) {
    const had = rows.get(f.transactionId);
    rows.set(f.transactionId, had ? mergeFact(had, f) : f);
  }
  // Where each row's chain of refund-transaction parents ends (a cycle, which Shopify never sends, ends at its least id).
  const rootOf = (id: string): string => {
    const path = [id];
    for (;;) {
      const parent = rows.get(path[path.length - 1]!)!.parentId;
      if (parent === null || !rows.has(parent)) return path[path.length - 1]!;
      if (path.includes(parent)) return path.slice(path.indexOf(parent)).sort()[0]!;
      path.push(parent);
    }
  };
  const roots = new Map([...rows.keys()].map((id) => [id, rootOf(id)]));
  // Sorted only so the result is stable: merging is order-free.
  for (const id of [...roots.keys()].sort()) {
    const root = roots.get(id)!;
    if (root === id) continue;
    const into = rows.get(root)!;
    rows.set(root, { ...mergeFact(into, rows.get(id)!), parentId: into.parentId });
    rows.delete(id);
  }
  return [...rows.values()];
}
