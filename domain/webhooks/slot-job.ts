import type { Producer } from '../../queue/producer';

/** Length of a drain slot: events stored within one slot share one job. */
export const SLOT_MS = 100;
/** A drain starts this long after its slot ends, so every row committed within the slot is visible to it. */
const SLOT_GRACE_MS = 50;

type DrainJob = 'webhook.delivery-reports.v1' | 'webhook.events.v1';

const added = new WeakMap<Producer, Map<DrainJob, number>>();

/**
 * Instead of one job per stored event, every event stored within the same
 * 100 ms slot shares one drain job (deterministic id per slot, so adding it
 * again is a no-op), delayed until just after the slot ends. A drain takes
 * every stored event of its kind, not only its slot's, so an event that
 * missed its slot's drain (clock skew between hosts) is taken by the next
 * one; if no next one comes, reconciliation gives the row a job of its own
 * (requeueStuckWebhookEvents), as for any event whose job was lost.
 *
 * Callers add it after their row is committed, so the slot is computed from
 * a time after the commit and its drain cannot run before the row is visible.
 */
export async function addSlotDrainJob(
  producer: Producer,
  name: DrainJob,
  jobIdOf: (slotEnd: number) => string,
  now: number,
  opts: { attempts?: number; afterMs?: number } = {},
): Promise<void> {
  const { afterMs = 0, ...jobOpts } = opts;
  // The slot of `now + afterMs`: a drain wanted later (reports waiting for their send's settle).
  const slotEnd = (Math.floor((now + afterMs) / SLOT_MS) + 1) * SLOT_MS;
  const mine = added.get(producer) ?? new Map<DrainJob, number>();
  added.set(producer, mine);
  // This process already added this slot's job (or is adding it: the mark
  // goes on before the round trip): adding it again would be a no-op that
  // still costs a Redis round trip per event. A failed add takes the mark
  // off, so the slot's next event tries again.
  if (mine.get(name) === slotEnd) return;
  mine.set(name, slotEnd);
  const jobId = jobIdOf(slotEnd);
  try {
    await producer.add(name, { traceId: jobId }, { jobId, delay: slotEnd - now + SLOT_GRACE_MS, ...jobOpts });
  } catch (err) {
    if (mine.get(name) === slotEnd) mine.delete(name);
    throw err;
  }
}
