import type { ClaimedRecipient } from './claim-batch';
import { recipientReference, type RenderedBatch } from './render-batch';
import type { RecipientOutcome } from './settle-batch';

/** A recipient's error_code when their message would cost more than the campaign reserved for it (as the launch records those it cannot pay for). */
export const BEYOND_RESERVATION_SKIP = 'insufficient_credits';

/**
 * Takes out of a rendered batch every message longer than `bound`, what the
 * campaign reserved per recipient (SendContext.messageBound; null: no
 * bound, nothing is taken out), to be recorded `skipped`
 * (insufficient_credits): never sent, never charged. Only a contact renamed
 * after the launch paid for their message can get here (the launch sizes
 * every chunk by the audience's longest names at the time), and charging
 * them would take credits the reservation holds for others, or the balance
 * beyond it. A re-send is never taken out: its message may have gone out
 * already, and the settle must record what went.
 */
export function withinReservation(
  rendered: RenderedBatch,
  recipients: ClaimedRecipient[],
  bound: number | null,
): { rendered: RenderedBatch; skipped: RecipientOutcome[] } {
  const unchanged = { rendered, skipped: [] };
  if (bound === null) return unchanged;
  // The usual batch has none: one pass over the counts, nothing built.
  let longer = false;
  for (const segments of rendered.segmentsByReference.values()) {
    if (segments > bound) {
      longer = true;
      break;
    }
  }
  if (!longer) return unchanged;
  const out = new Set<string>();
  const skipped: RecipientOutcome[] = [];
  for (const r of recipients) {
    const reference = recipientReference(r.id);
    if (r.resend || (rendered.segmentsByReference.get(reference) ?? 0) <= bound) continue;
    out.add(reference);
    skipped.push({ id: r.id, kind: 'skipped', code: BEYOND_RESERVATION_SKIP });
  }
  if (out.size === 0) return unchanged;
  const segmentsByReference = new Map([...rendered.segmentsByReference].filter(([reference]) => !out.has(reference)));
  return { rendered: { messages: rendered.messages.filter((m) => !out.has(m.reference)), segmentsByReference, unsendable: rendered.unsendable }, skipped };
}
