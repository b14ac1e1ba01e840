import type { Tx } from '../../lib/db';
import { CHECKOUT_COMPLETED_SQL, ORDERED_SINCE_SQL } from './run-exit-facts';

/** A run a send step is about to send, and which of the "order placed" exits apply to it. */
export interface OrderExitWatch {
  runId: string;
  /** Its version's exit condition ends it on a purchase of its contact since the trigger. */
  orderPlaced: boolean;
  /** An abandoned checkout's run: its checkout's completion ends it, whatever the exit condition. */
  checkout: boolean;
}

/**
 * The runs among `runs` that a purchase placed since their trigger (where
 * `orderPlaced`) or their checkout's completion (where `checkout`) ends
 * (`exited`/`order_placed`), checked in the transaction that decides to send
 * their step, under locks the writers of those facts conflict with, held
 * until that transaction commits:
 *
 * - the contact row FOR SHARE: a purchase is a new shopify_orders row, which
 *   no lock can name before it exists, but the statement that stores it
 *   (record-order.ts) updates its contact's order summary in the same
 *   statement, and the link of orders stored before their contact
 *   (link-customer-orders.ts) locks the contact FOR NO KEY UPDATE first:
 *   both conflict with FOR SHARE;
 * - the checkout row FOR SHARE: checkouts/update writes its completion by
 *   an upsert of that row (record-checkout.ts).
 *
 * So an order or a completion committing at that moment either committed
 * before the lock was granted, and the read below (a new statement: READ
 * COMMITTED, a new snapshot) sees it, or waits until the send is decided and
 * marked: the message then went before the order, and the run's next step
 * sees it. Never a "you left something in your cart" decided after the
 * purchase committed.
 *
 * Contacts first, then checkouts, then (the caller) the runs: the order
 * every writer that reaches more than one of them takes (an opt-out updates
 * the contact, whose trigger then ends its runs; an erasure locks the
 * contact, then deletes its checkouts). Contacts in `phone_hash` order, as
 * the bulk contact writers lock theirs (upsert-contacts.ts,
 * apply-customer-chunk.ts), so an import or a sync overlapping a batch
 * waits for it instead of deadlocking; concurrent senders take shared locks,
 * which never wait on each other. One row lock per distinct contact and
 * checkout of the runs (row locks, not advisory ones: a batch of 1 000 would
 * take 1 000 entries of Postgres' shared lock table, sized 64 per
 * connection).
 */
export async function ordersPlacedSince(tx: Tx, runs: OrderExitWatch[]): Promise<Set<string>> {
  const out = new Set<string>();
  const byOrder = runs.filter((r) => r.orderPlaced).map((r) => r.runId);
  const byCheckout = runs.filter((r) => r.checkout).map((r) => r.runId);
  if (byOrder.length === 0 && byCheckout.length === 0) return out;
  await lockOrderFacts(tx, byOrder, byCheckout);
  const ended = await tx.$queryRaw<{ id: string }[]>`
    SELECT r.id::text FROM flow_runs r
     WHERE r.id = ANY(${[...new Set([...byOrder, ...byCheckout])]}::bigint[])
       AND ((r.id = ANY(${byOrder}::bigint[]) AND ${ORDERED_SINCE_SQL}) OR (r.id = ANY(${byCheckout}::bigint[]) AND ${CHECKOUT_COMPLETED_SQL}))`;
  for (const r of ended) out.add(r.id);
  return out;
}

/** What a run's condition step reads of its orders, decided under ordersPlacedSince's locks. */
export interface RunOrderFacts {
  /** The contact made a purchase since the trigger (ORDERED_SINCE_SQL). */
  orderedSince: boolean;
  /** An abandoned checkout's checkout went through (CHECKOUT_COMPLETED_SQL); false for any other run. */
  checkoutCompleted: boolean;
}

/**
 * For a `hasOrderedSinceTrigger` condition step: its contact's purchases
 * since the trigger, and (an abandoned checkout's run) its checkout's
 * completion, read under the same row locks as ordersPlacedSince, taken in
 * the same order (the contact, then the checkout; the caller moves the run
 * after, in the same transaction). An order committing while the condition
 * is decided is then seen, or waits until the run has moved: it came after
 * the decision, and the run's next step sees it. Null when the run is gone.
 */
export async function runOrderFacts(tx: Tx, run: { runId: string; checkout: boolean }): Promise<RunOrderFacts | null> {
  await lockOrderFacts(tx, [run.runId], run.checkout ? [run.runId] : []);
  const [r] = await tx.$queryRaw<{ ordered_since: boolean; checkout_completed: boolean }[]>`
    SELECT ${ORDERED_SINCE_SQL} AS ordered_since, ${CHECKOUT_COMPLETED_SQL} AS checkout_completed
      FROM flow_runs r WHERE r.id = ${run.runId}::bigint`;
  return r ? { orderedSince: r.ordered_since, checkoutCompleted: run.checkout && r.checkout_completed } : null;
}

/** The contacts of `byContact` FOR SHARE (phone_hash order), then the checkouts of `byCheckout` FOR SHARE (see ordersPlacedSince). */
async function lockOrderFacts(tx: Tx, byContact: string[], byCheckout: string[]): Promise<void> {
  if (byContact.length > 0) {
    await tx.$queryRaw`
      SELECT count(*)::int AS n FROM (
        SELECT 1 FROM flow_runs r JOIN contacts c ON c.id = r.contact_id
         WHERE r.id = ANY(${byContact}::bigint[])
         ORDER BY c.phone_hash, c.id
           FOR SHARE OF c) locked`;
  }
  if (byCheckout.length > 0) {
    await tx.$queryRaw`
      SELECT count(*)::int AS n FROM (
        SELECT 1 FROM flow_runs r JOIN shopify_checkouts k ON k.shop_id = r.shop_id AND k.token = r.trigger_subject
         WHERE r.id = ANY(${byCheckout}::bigint[]) AND r.trigger_type = 'checkout_abandoned'
         ORDER BY k.shop_id, k.token
           FOR SHARE OF k) locked`;
  }
}
