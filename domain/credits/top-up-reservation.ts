import type { Tx } from '../../lib/db';
import { AppError } from '../../lib/errors';

/**
 * Raises an active reservation by `amount`, taken from the available balance
 * by the same guarded UPDATE as reserveCredits (never more than available).
 * Throws INSUFFICIENT_CREDITS with `{needed, available}` otherwise.
 */
export async function topUpReservation(tx: Tx, r: { shopId: string; reservationId: string; amount: number }): Promise<void> {
  if (!Number.isSafeInteger(r.amount) || r.amount <= 0) return;
  const held = await tx.$queryRaw<{ reserved: bigint }[]>`
    UPDATE credit_wallets SET reserved = reserved + ${r.amount}::bigint, updated_at = now()
     WHERE shop_id = ${r.shopId}::uuid AND balance - reserved >= ${r.amount}::bigint
    RETURNING reserved`;
  if (held.length === 0) {
    const [w] = await tx.$queryRaw<{ available: bigint }[]>`SELECT balance - reserved AS available FROM credit_wallets WHERE shop_id = ${r.shopId}::uuid`;
    throw new AppError('INSUFFICIENT_CREDITS', 'Not enough credits', { details: { needed: r.amount, available: Number(w?.available ?? 0) } });
  }
  const n = await tx.$executeRaw`
    UPDATE credit_reservations SET amount = amount + ${r.amount}::bigint, updated_at = now()
     WHERE id = ${r.reservationId}::uuid AND shop_id = ${r.shopId}::uuid AND status = 'active'`;
  if (n !== 1) throw new Error(`reservation ${r.reservationId} is not active`);
}
