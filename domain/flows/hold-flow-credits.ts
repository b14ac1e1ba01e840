import type { Tx } from '../../lib/db';

/** The hold (a `credit_reservations` row, no campaign) of a claim's batched sends, one per shop of the claim. */
export const flowClaimHoldKey = (claimToken: string): string => `flow-claim-${claimToken}`;
/** The hold of one message sent on its own; the claim in it, as a message released unsent is held again by a later claim. */
export const flowMessageHoldKey = (messageId: string, claimToken: string): string => `flow-msg-${messageId}-${claimToken}`;

/**
 * A hold its settle never closed (the worker died after the provider call)
 * is given back by reconciliation once it expires (release-orphaned-reservations.ts);
 * a settle later still than that charges from the available balance, as
 * far as it goes. Long past the lease, so a settle is never that late
 * without the run having been re-claimed first.
 */
export const FLOW_HOLD_GRACE_MS = 15 * 60_000;

/**
 * Holds the credits of messages about to be sent, before the provider call,
 * so two claims of one shop sending at once cannot both spend the same
 * balance: each shop's wallet row is locked (shops in id order, as every
 * settle takes them), and its messages fit in claim order while their
 * running sum stays within `balance - reserved`; what fits raises
 * `reserved` and is recorded as an active reservation under `key`, which
 * keeps reconciliation's invariant (reserved = Σ active reservations). The
 * settle turns the hold into the debit and closes it (debit-flow-messages.ts,
 * close-flow-hold.ts). One statement: the caller makes it the last of its
 * transaction, so the wallet is locked for it and the commit only. Returns
 * the indexes of `items` that fit; the rest must not be sent.
 */
export async function holdFlowCredits(tx: Tx, o: { key: string; expiresAt: Date; items: { shopId: string; segments: number }[] }): Promise<Set<number>> {
  if (o.items.length === 0) return new Set();
  const [row] = await tx.$queryRaw<{ fits: number[] | null }[]>`
    WITH u AS (
      SELECT * FROM unnest(${o.items.map((i) => i.shopId)}::uuid[], ${o.items.map((i) => i.segments)}::int[]) WITH ORDINALITY AS u(shop_id, segments, ord)
    ), w AS MATERIALIZED (
      SELECT shop_id, balance - reserved AS available FROM credit_wallets
       WHERE shop_id IN (SELECT shop_id FROM u) ORDER BY shop_id FOR UPDATE
    ), fit AS MATERIALIZED (
      SELECT u.shop_id, u.ord, u.segments,
             sum(u.segments) OVER (PARTITION BY u.shop_id ORDER BY u.ord) <= w.available AS fits
        FROM u JOIN w ON w.shop_id = u.shop_id
    ), per_shop AS MATERIALIZED (
      SELECT shop_id, sum(segments)::bigint AS amount FROM fit WHERE fits GROUP BY shop_id
    ), held AS (
      UPDATE credit_wallets cw SET reserved = cw.reserved + p.amount, updated_at = now()
        FROM per_shop p WHERE cw.shop_id = p.shop_id
      RETURNING cw.shop_id, p.amount
    ), hold AS (
      INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount, expires_at)
      SELECT shop_id, NULL, ${o.key}, amount, ${o.expiresAt}::timestamptz FROM held
      RETURNING 1
    )
    SELECT (SELECT array_agg(ord::int ORDER BY ord) FROM fit WHERE fits) AS fits, (SELECT count(*) FROM hold) AS holds`;
  return new Set((row?.fits ?? []).map((ord) => ord - 1));
}
