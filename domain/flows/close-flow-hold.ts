import type { Tx } from '../../lib/db';
import { payWhatIsOwed } from '../credits/pay-what-is-owed';

/**
 * Closes a flow message's credit hold (hold-flow-credits.ts) at its settle
 * and says what the message may be charged: `segments` (0 when it is not
 * charged: failed, unknown, tried again later), out of the hold and then the
 * available balance, never past them (a hold reconciliation gave back after
 * it expired holds nothing). The wallet row is locked first, then the hold,
 * the order every credit path takes them; `reserved` gives the whole hold
 * back and the reservation records what the charge consumed of it. The
 * caller debits `charge` in the same transaction. Idempotent: a closed or
 * missing hold holds 0.
 *
 * What the hold gives back unspent were refunded credits if a refund (or a
 * lost dispute) came while it held them: they pay that first, as a
 * campaign's released reservation does (pay-what-is-owed.ts), so a message
 * refused or tried later cannot hand a refunded pack back to the merchant.
 */
export async function closeFlowHold(tx: Tx, o: { shopId: string; key: string; segments: number }): Promise<{ charge: number; held: number }> {
  const [row] = await tx.$queryRaw<{ charge: bigint; held: bigint; since: Date | null }[]>`
    WITH w AS MATERIALIZED (
      SELECT shop_id, balance - reserved AS available FROM credit_wallets WHERE shop_id = ${o.shopId}::uuid FOR UPDATE
    ), hold AS MATERIALIZED (
      SELECT r.id, r.created_at, r.amount - r.consumed - r.released AS held FROM credit_reservations r, w
       WHERE r.shop_id = w.shop_id AND r.reservation_key = ${o.key} AND r.status = 'active'
         FOR UPDATE OF r
    ), calc AS MATERIALIZED (
      SELECT w.shop_id, COALESCE(h.held, 0) AS held,
             GREATEST(0, LEAST(${o.segments}::bigint, w.available + COALESCE(h.held, 0))) AS charge
        FROM w LEFT JOIN hold h ON true
    ), closed AS (
      UPDATE credit_reservations r
         SET consumed = r.consumed + LEAST(c.charge, c.held), released = r.released + (c.held - LEAST(c.charge, c.held)), status = 'closed', updated_at = now()
        FROM hold h, calc c WHERE r.id = h.id
      RETURNING 1
    ), freed AS (
      UPDATE credit_wallets cw SET reserved = cw.reserved - c.held, updated_at = now()
        FROM calc c WHERE cw.shop_id = c.shop_id AND c.held > 0
      RETURNING 1
    )
    SELECT c.charge, c.held, (SELECT created_at FROM hold) AS since, (SELECT count(*) FROM closed) + (SELECT count(*) FROM freed) AS written FROM calc c`;
  const charge = Number(row?.charge ?? 0);
  const held = Number(row?.held ?? 0);
  if (row?.since) await payWhatIsOwed(tx, { shopId: o.shopId, freed: held - Math.min(charge, held), reservedSince: row.since });
  return { charge, held };
}
