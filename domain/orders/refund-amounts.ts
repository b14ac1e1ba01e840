import { toMinorUnits, toSignedMinorUnits } from './money';

/** Where a refund transaction stands: only `success` gave money back; `pending` may still. */
export type RefundTransactionState = 'pending' | 'failed' | 'success';

/** A transaction as refunds/create (in `transactions`) or order_transactions/create has it (shopify-payloads.ts). */
export interface ShopifyTransaction {
  id: string;
  /** The transaction it follows: the sale a refund gives back, or (a later state of a refund) that refund transaction. */
  parentId: string | null;
  kind: string;
  status: string | null;
  /** Decimal text in `currency` ("12.50"): the currency the customer paid in. */
  amount: string;
  currency: string | null;
}

/** One figure in both of a refund's currencies, as Shopify writes a money bag (decimal text, maybe negative). */
export interface MoneyPair {
  shop: { amount: string; currency: string };
  presentment: { amount: string; currency: string };
}

/** A part of a refund: added (line items, their tax, shipping, duties, fees) or subtracted (an order adjustment). */
export interface RefundMoneyPart {
  sign: 1 | -1;
  money: MoneyPair;
}

/** A refund transaction as stored (shopify_refund_transactions, record-refund.ts). */
export interface RefundTransactionFact {
  transactionId: string;
  parentId: string | null;
  /** The refund it belongs to; null when only order_transactions/create told of it so far. */
  refundId: string | null;
  currency: string;
  amountMinor: bigint;
  state: RefundTransactionState;
  /**
   * Its part of its refund's total in the shop's currency, when it is paid in
   * another (the customer's presentment currency): set from refunds/create
   * only (refundTransactionFacts), null otherwise.
   */
  shop: { currency: string; amountMinor: bigint } | null;
}

export function transactionState(status: string | null): RefundTransactionState {
  const s = status?.toLowerCase();
  if (s === 'success') return 'success';
  if (s === 'failure' || s === 'error') return 'failed';
  // `pending`, none, or a status Shopify adds later: it has given nothing back yet.
  return 'pending';
}

/** A transaction of kind `refund` with a currency and an amount above zero, as a fact; null for anything else. */
export function refundTransactionFact(t: ShopifyTransaction, refundId: string | null): RefundTransactionFact | null {
  if (t.kind.toLowerCase() !== 'refund' || !t.currency) return null;
  const minor = toMinorUnits(t.amount, t.currency);
  if (minor === null || minor === 0n) return null;
  return { transactionId: t.id, parentId: t.parentId, refundId, currency: t.currency, amountMinor: minor, state: transactionState(t.status), shop: null };
}

export interface RefundTotals {
  shopCurrency: string;
  shopMinor: bigint;
  presentmentCurrency: string;
  presentmentMinor: bigint;
}

/**
 * What a refund amounts to in the shop's currency and in the customer's, from
 * its parts' money bags (Shopify converted each part itself, at the order's
 * rate): the sum of the added parts minus the order adjustments. Null when
 * there is no part, the parts disagree on their currencies, or a total is
 * not above zero.
 */
export function refundTotals(parts: RefundMoneyPart[]): RefundTotals | null {
  let shopCurrency: string | null = null;
  let presentmentCurrency: string | null = null;
  let shopMinor = 0n;
  let presentmentMinor = 0n;
  for (const { sign, money } of parts) {
    shopCurrency ??= money.shop.currency;
    presentmentCurrency ??= money.presentment.currency;
    if (money.shop.currency !== shopCurrency || money.presentment.currency !== presentmentCurrency) return null;
    const s = toSignedMinorUnits(money.shop.amount, shopCurrency);
    const p = toSignedMinorUnits(money.presentment.amount, presentmentCurrency);
    if (s === null || p === null) return null;
    shopMinor += BigInt(sign) * s;
    presentmentMinor += BigInt(sign) * p;
  }
  if (shopCurrency === null || presentmentCurrency === null || shopMinor <= 0n || presentmentMinor <= 0n) return null;
  return { shopCurrency, shopMinor, presentmentCurrency, presentmentMinor };
}

/** Numeric ids in numeric order (Shopify's ids are integers written as text), any other text after them. */
const byId = (x: string, y: string): number => x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);

/**
 * refunds/create: its refund transactions as facts. A transaction paid in the
 * refund's presentment currency while the shop's is another gets its part of
 * the refund's shop-money total (refundTotals): the refund's own figure in
 * the currency the order is stored in, never an exchange rate of ours. Split
 * over those transactions by their amounts, exactly in minor units: each
 * gets floor(running sum × shop total / presentment total) minus the same
 * for the ones before it (in id order), so one transaction for the whole
 * refund gets the shop total itself and the parts always add up. A
 * transaction that is a later state of another one listed (its parent) gets
 * none: it is the same money (record-refund.ts folds it into its parent).
 */
export function refundTransactionFacts(refundId: string, transactions: ShopifyTransaction[], parts: RefundMoneyPart[]): RefundTransactionFact[] {
  const facts = transactions.map((t) => refundTransactionFact(t, refundId)).filter((f): f is RefundTransactionFact => f !== null);
  const totals = refundTotals(parts);
  if (!totals || totals.shopCurrency === totals.presentmentCurrency) return facts;
  const ids = new Set(facts.map((f) => f.transactionId));
  const paid = facts
    .filter((f) => f.currency === totals.presentmentCurrency && !(f.parentId !== null && ids.has(f.parentId)))
    .sort((x, y) => byId(x.transactionId, y.transactionId));
  let running = 0n;
  let before = 0n;
  for (const f of paid) {
    running += f.amountMinor;
    const upTo = (running * totals.shopMinor) / totals.presentmentMinor;
    f.shop = { currency: totals.shopCurrency, amountMinor: upTo - before };
    before = upTo;
  }
  return facts;
}
