import type { Db } from '../../lib/db';

// Rows that only served to make something exactly-once and are long finished:
// processed (or ignored, dropped) webhook events past their retention — by
// then no sender retries them — and published outbox events; and dead outbox
// events nobody replayed within their own, longer retention. Deleted in
// bounded batches so a pass never holds a long lock.

/**
 * A full Stripe `charge.refunded` is the record of a refund, not only its
 * dedup key: until a purchase of its payment intent names it (its refund
 * ids, or `event:<id>`, in `refund_keys` or `failed_refund_ids`), it is
 * still to be applied. One that found no purchase (its completion not
 * processed yet: failed, and replayed by hand weeks later) is read by that
 * completion (fulfil-checkout-session.ts), and one received while an earlier
 * refund held the pack by that refund's failure (refund-rounds.ts); pruned,
 * the completion granted a refunded pack. So such an event is kept until it
 * is named; then it goes with the rest.
 */
export async function pruneFinishedWebhookEvents(db: Db, opts: { before: Date; batchSize: number; maxBatches: number }): Promise<number> {
  let total = 0;
  for (let i = 0; i < opts.maxBatches; i++) {
    const n = await db.$executeRaw`
      DELETE FROM webhook_events WHERE id IN (
        SELECT e.id FROM webhook_events e WHERE e.status IN ('processed', 'ignored', 'dropped') AND e.received_at < ${opts.before}
           AND NOT (e.provider = 'stripe' AND e.topic = 'charge.refunded' AND e.payload->'data'->'object'->'refunded' = 'true'::jsonb
                    AND NOT EXISTS (SELECT 1 FROM purchases p
                                     WHERE p.stripe_payment_intent_id = e.payload->'data'->'object'->>'payment_intent'
                                       AND stripe_charge_refund_keys(e.event_id, e.payload) <@ (p.refund_keys || p.failed_refund_ids)))
         LIMIT ${opts.batchSize})`;
    total += n;
    if (n < opts.batchSize) break;
  }
  return total;
}

/**
 * Dedup keys of delivery reports sent one per request past the inbox's
 * retention: by then the provider has long stopped retrying them, and a
 * replay of one would only meet a recipient already final.
 */
export async function pruneDeliveryReportKeys(db: Db, opts: { before: Date; batchSize: number; maxBatches: number }): Promise<number> {
  let total = 0;
  for (let i = 0; i < opts.maxBatches; i++) {
    const n = await db.$executeRaw`
      DELETE FROM delivery_report_keys WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM delivery_report_keys WHERE received_at < ${opts.before} LIMIT ${opts.batchSize}))`;
    total += n;
    if (n < opts.batchSize) break;
  }
  return total;
}

export async function prunePublishedOutbox(db: Db, opts: { before: Date; batchSize: number; maxBatches: number }): Promise<number> {
  let total = 0;
  for (let i = 0; i < opts.maxBatches; i++) {
    const n = await db.$executeRaw`
      DELETE FROM outbox_events WHERE id IN (
        SELECT id FROM outbox_events WHERE published_at IS NOT NULL AND published_at < ${opts.before} LIMIT ${opts.batchSize})`;
    total += n;
    if (n < opts.batchSize) break;
  }
  return total;
}

/**
 * Dead outbox events set aside longer ago than their retention: nobody
 * replayed them in that time, so their work is given up (the runbook's
 * `outbox:requeue` is the way to keep one). The guard is repeated on the
 * DELETE itself, so a row requeued while the batch was chosen is kept. Each
 * batch's rows (id and type, never the payload) are returned for the log.
 */
export async function pruneDeadOutbox(db: Db, opts: { before: Date; batchSize: number; maxBatches: number }): Promise<{ id: string; eventType: string; deadAt: Date }[]> {
  const pruned: { id: string; eventType: string; deadAt: Date }[] = [];
  for (let i = 0; i < opts.maxBatches; i++) {
    const rows = await db.$queryRaw<{ id: string; event_type: string; dead_at: Date }[]>`
      DELETE FROM outbox_events WHERE id IN (
        SELECT id FROM outbox_events WHERE dead_at IS NOT NULL AND dead_at < ${opts.before} ORDER BY dead_at, id LIMIT ${opts.batchSize})
        AND dead_at IS NOT NULL AND dead_at < ${opts.before}
      RETURNING id::text AS id, event_type, dead_at`;
    for (const r of rows) pruned.push({ id: r.id, eventType: r.event_type, deadAt: r.dead_at });
    if (rows.length < opts.batchSize) break;
  }
  return pruned;
}
