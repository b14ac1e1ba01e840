import { AppError } from '../../lib/errors';
import type { Tx } from '../../lib/db';
import { payWhatIsOwed } from './pay-what-is-owed';

export interface Reservation {
  id: string;
  amount: number;
  consumed: number;
  released: number;
  status: 'active' | 'closed';
}

interface ReservationRow {
  id: string;
  amount: bigint;
  consumed: bigint;
  released: bigint;
  status: 'active' | 'closed';
}

const toReservation = (r: ReservationRow): Reservation => ({
  id: r.id,
  amount: Number(r.amount),
  consumed: Number(r.consumed),
  released: Number(r.released),
  status: r.status,
});

/**
 * Holds `amount` credits back for a campaign, in one statement: the guarded
 * UPDATE only raises `reserved` while available (balance - reserved) covers
 * it, so two concurrent reservations can never both succeed on the same
 * credits, and the reservation row exists exactly when the hold does. Every
 * enqueue of a shop queues on that wallet row until commit, so callers make
 * this the last statement of their transaction: the lock is then held for
 * one statement and the COMMIT, not for the whole request.
 */
export async function reserveCredits(
  tx: Tx,
  r: { shopId: string; campaignId: string | null; reservationKey: string; amount: number; expiresAt?: Date | null },
): Promise<Reservation> {
  const [row] = await tx.$queryRaw<ReservationRow[]>`
    WITH held AS (
      UPDATE credit_wallets SET reserved = reserved + ${r.amount}::bigint, updated_at = now()
       WHERE shop_id = ${r.shopId}::uuid AND balance - reserved >= ${r.amount}::bigint
      RETURNING shop_id
    )
    INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount, expires_at)
    SELECT held.shop_id, ${r.campaignId}::uuid, ${r.reservationKey}, ${r.amount}::bigint, ${r.expiresAt ?? null}::timestamptz FROM held
    RETURNING id, amount, consumed, released, status`;
  if (row) return toReservation(row);
  // A shop without a wallet row (never provisioned) has nothing available.
  const [w] = await tx.$queryRaw<{ available: bigint }[]>`SELECT balance - reserved AS available FROM credit_wallets WHERE shop_id = ${r.shopId}::uuid`;
  throw new AppError('INSUFFICIENT_CREDITS', 'Not enough credits', {
    details: { needed: r.amount, available: Number(w?.available ?? 0) },
  });
}

/**
 * Consumes up to `amount` of a reservation (a send that was debited).
 * Returns what was actually taken from the reservation; a debit beyond the
 * reservation (should the upper bound ever be exceeded) is charged to the
 * available balance by the caller's ledger row instead.
 */
export async function consumeReservation(tx: Tx, reservationId: string, amount: number): Promise<number> {
  const rows = await tx.$queryRaw<{ taken: bigint }[]>`
    WITH old AS (
      SELECT id, LEAST(${amount}::bigint, amount - consumed - released) AS taken FROM credit_reservations
       WHERE id = ${reservationId}::uuid AND status = 'active' FOR UPDATE
    )
    UPDATE credit_reservations r SET consumed = r.consumed + old.taken, updated_at = now()
      FROM old WHERE r.id = old.id
    RETURNING old.taken`;
  return Number(rows[0]?.taken ?? 0);
}

/**
 * Locks the wallet of the reservation's shop, before the reservation: the
 * order a send's settle (ledger row, then consumeReservation), a refund and
 * a dispute's events (wallet, then purchase, disputes, holds) take them in,
 * so a release cannot deadlock with any of them, and what it pays
 * (payWhatIsOwed) is read after they committed.
 */
async function lockWalletOfReservation(tx: Tx, reservationId: string): Promise<void> {
  await tx.$queryRaw`
    SELECT 1 FROM credit_wallets w JOIN credit_reservations r ON r.shop_id = w.shop_id
     WHERE r.id = ${reservationId}::uuid FOR UPDATE OF w`;
}

/**
 * Closes a reservation and gives back whatever it still holds. Idempotent:
 * a closed reservation releases nothing. Returns the credits released
 * (credits a refund or a dispute's hold could not take while they were held
 * go there first: payWhatIsOwed).
 */
export async function releaseReservation(tx: Tx, reservationId: string): Promise<number> {
  await lockWalletOfReservation(tx, reservationId);
  const rows = await tx.$queryRaw<{ shop_id: string; freed: bigint; created_at: Date }[]>`
    WITH old AS (
      SELECT id, shop_id, created_at, amount - consumed - released AS freed FROM credit_reservations
       WHERE id = ${reservationId}::uuid AND status = 'active' FOR UPDATE
    )
    UPDATE credit_reservations r
       SET released = r.released + old.freed, status = 'closed', updated_at = now()
      FROM old WHERE r.id = old.id
    RETURNING old.shop_id, old.freed, old.created_at`;
  const row = rows[0];
  if (!row) return 0;
  if (row.freed > 0n) {
    await tx.$executeRaw`UPDATE credit_wallets SET reserved = reserved - ${row.freed}::bigint, updated_at = now() WHERE shop_id = ${row.shop_id}::uuid`;
    await payWhatIsOwed(tx, { shopId: row.shop_id, freed: Number(row.freed), reservedSince: row.created_at });
  }
  return Number(row.freed);
}

/**
 * Gives back up to `amount` of an active reservation without closing it (a
 * cancelled campaign keeps what its in-flight sends may still consume).
 * Keeps wallet.reserved in step. Returns the credits released.
 */
export async function releasePartial(tx: Tx, reservationId: string, amount: number): Promise<number> {
  if (!Number.isSafeInteger(amount) || amount <= 0) return 0;
  await lockWalletOfReservation(tx, reservationId);
  const rows = await tx.$queryRaw<{ shop_id: string; freed: bigint; created_at: Date }[]>`
    WITH old AS (
      SELECT id, shop_id, created_at, LEAST(${amount}::bigint, amount - consumed - released) AS freed FROM credit_reservations
       WHERE id = ${reservationId}::uuid AND status = 'active' FOR UPDATE
    )
    UPDATE credit_reservations r SET released = r.released + old.freed, updated_at = now()
      FROM old WHERE r.id = old.id AND old.freed > 0
    RETURNING old.shop_id, old.freed, old.created_at`;
  const row = rows[0];
  if (!row) return 0;
  await tx.$executeRaw`UPDATE credit_wallets SET reserved = reserved - ${row.freed}::bigint, updated_at = now() WHERE shop_id = ${row.shop_id}::uuid`;
  await payWhatIsOwed(tx, { shopId: row.shop_id, freed: Number(row.freed), reservedSince: row.created_at });
  return Number(row.freed);
}

export async function activeReservationForCampaign(tx: Tx, campaignId: string): Promise<Reservation | null> {
  const rows = await tx.$queryRaw<ReservationRow[]>`
    SELECT id, amount, consumed, released, status FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid AND status = 'active'`;
  return rows[0] ? toReservation(rows[0]) : null;
}
