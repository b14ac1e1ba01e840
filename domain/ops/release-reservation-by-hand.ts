import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { releaseReservation } from '../credits/reservations';
import { campaignDoneWithReservationSql } from '../reconciliation/release-orphaned-reservations';

/**
 * The on-call's release of a reservation (POST /internal/reservations/:id/release):
 * only one nothing will consume. That of a campaign that may still send
 * would leave its remaining sends uncovered, so it is refused (INVALID_STATE,
 * naming the campaign's state and open recipients): cancelling the campaign
 * releases what it no longer needs. So is an open dispute's hold (naming the
 * dispute): its `charge.dispute.closed` ends it; and a flow send's hold
 * before its expiry (naming it): its settle charges the sent messages out of it. A campaign's state is final once it
 * qualifies (campaignDoneWithReservationSql), so the check cannot go stale
 * before the release. Returns the credits released (0 when already closed).
 */
export async function releaseReservationByHand(db: Db, reservationId: string): Promise<number> {
  const [reservation] = await db.$queryRaw<
    { status: string; campaign_id: string | null; campaign_status: string | null; done: boolean | null; dispute_id: string | null; expires_at: Date | null; live: boolean }[]
  >`
    SELECT r.status, r.campaign_id, c.status AS campaign_status, ${campaignDoneWithReservationSql('c')} AS done, d.stripe_dispute_id AS dispute_id,
           r.expires_at, COALESCE(r.expires_at > now(), false) AS live
      FROM credit_reservations r LEFT JOIN campaigns c ON c.id = r.campaign_id
      LEFT JOIN stripe_disputes d ON r.campaign_id IS NULL AND r.reservation_key = 'dispute-' || d.stripe_dispute_id AND d.shop_id = r.shop_id
     WHERE r.id = ${reservationId}::uuid`;
  if (!reservation) throw new AppError('NOT_FOUND', 'Reservation not found');
  if (reservation.status === 'active' && reservation.dispute_id !== null) {
    // Released by hand, the disputed credits could be spent before the dispute is decided.
    throw new AppError('INVALID_STATE', "The reservation holds a Stripe dispute's credits: the dispute's closing releases (won) or takes (lost) them", {
      details: { disputeId: reservation.dispute_id },
    });
  }
  if (reservation.status === 'active' && reservation.campaign_id === null && reservation.live) {
    // A flow claim's hold (hold-flow-credits.ts): its settle charges the messages it sent out of it until it
    // expires. Released now, the shop could spend those credits first and the sent messages go uncharged.
    throw new AppError('INVALID_STATE', "The reservation holds a flow send's credits until its settle charges them, or until it expires (then reconciliation releases it)", {
      details: { expiresAt: reservation.expires_at?.toISOString() ?? null },
    });
  }
  if (reservation.status === 'active' && reservation.campaign_status !== null && !reservation.done) {
    const [open] = await db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM campaign_batches b JOIN campaign_recipients r ON r.campaign_id = b.campaign_id AND r.batch_no = b.batch_no
       WHERE b.campaign_id = ${reservation.campaign_id}::uuid AND b.status = 'pending' AND r.status IN ('pending', 'sending')`;
    throw new AppError('INVALID_STATE', "The reservation's campaign may still send: cancel the campaign (which releases what it no longer needs) instead", {
      details: { campaignId: reservation.campaign_id, campaignStatus: reservation.campaign_status, openRecipients: Number(open?.n ?? 0) },
    });
  }
  return db.$transaction((tx) => releaseReservation(tx, reservationId));
}
