import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db, Tx } from '../lib/db';
import { applyWalletChange } from '../domain/credits/apply-wallet-change';
import { releaseReservation, reserveCredits } from '../domain/credits/reservations';

// Races of Stripe events (and their duplicates: Stripe delivers an event more
// than once) against releases of the reservations that held a pack's credits
// (domain/billing/*-races.int.test.ts). Each round is a fresh shop.

export const ROUNDS = 20;

export const rid = (p: string): string => `${p}_${randomBytes(8).toString('hex')}`;

/** A paid pack of 1000 credits (price 1000) and its grant, as fulfilment leaves them. */
export async function paidPack(db: Db, shopId: string): Promise<{ sessionId: string; pi: string }> {
  const [sessionId, pi] = [rid('cs'), rid('pi')];
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, stripe_payment_intent_id, pack_id, credits, amount, currency, status, granted_at)
      VALUES (${shopId}::uuid, ${sessionId}, ${pi}, 'starter', 1000, 1000, 'usd', 'paid', now())`;
    await applyWalletChange(tx, { shopId, type: 'purchase', amount: 1000, idempotencyKey: `purchase-${sessionId}` });
  });
  return { sessionId, pi };
}

/** `n` campaign-like reservations of `each` credits, one transaction each. */
export async function reservations(db: Db, shopId: string, n: number, each: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await db.$transaction((tx) => reserveCredits(tx, { shopId, campaignId: null, reservationKey: rid('campaign'), amount: each }));
    out.push(r.id);
  }
  return out;
}

/**
 * The wallet, checked: balance = Σ ledger and reserved = Σ what active
 * reservations still hold, whatever else the round expects.
 */
export async function walletChecked(db: Db, shopId: string): Promise<{ balance: number; reserved: number }> {
  const [w] = await db.$queryRaw<{ balance: bigint; reserved: bigint; ledger: bigint; active: bigint }[]>`
    SELECT w.balance, w.reserved,
           coalesce((SELECT sum(amount) FROM credit_transactions t WHERE t.shop_id = w.shop_id), 0)::bigint AS ledger,
           coalesce((SELECT sum(amount - consumed - released) FROM credit_reservations r WHERE r.shop_id = w.shop_id AND r.status = 'active'), 0)::bigint AS active
      FROM credit_wallets w WHERE w.shop_id = ${shopId}::uuid`;
  if (!w) throw new Error(`shop ${shopId} has no wallet`);
  if (w.balance !== w.ledger || w.reserved !== w.active) {
    throw new Error(`wallet ${shopId}: balance ${w.balance} vs ledger ${w.ledger}, reserved ${w.reserved} vs active reservations ${w.active}`);
  }
  return { balance: Number(w.balance), reserved: Number(w.reserved) };
}

export async function purchaseRow(db: Db, sessionId: string): Promise<{ status: string; refund_shortfall: number }> {
  const [p] = await db.$queryRaw<{ status: string; refund_shortfall: bigint }[]>`
    SELECT status, refund_shortfall FROM purchases WHERE stripe_session_id = ${sessionId}`;
  return { status: p!.status, refund_shortfall: Number(p!.refund_shortfall) };
}

export async function disputeRow(db: Db, disputeId: string): Promise<{ status: string; hold_shortfall: number }> {
  const [d] = await db.$queryRaw<{ status: string; hold_shortfall: bigint }[]>`
    SELECT status, hold_shortfall FROM stripe_disputes WHERE stripe_dispute_id = ${disputeId}`;
  return { status: d!.status, hold_shortfall: Number(d!.hold_shortfall) };
}

/**
 * A transaction started after a random pause of up to 15 ms, so the rounds
 * try many orders of the racing transactions, not only the order they were
 * written in. Its own transaction, as each webhook event and each release is.
 */
export async function jittered<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  await sleep(Math.floor(Math.random() * 16));
  return db.$transaction(fn);
}

export const release = (db: Db, reservationId: string): Promise<number> => jittered(db, (tx) => releaseReservation(tx, reservationId));

/**
 * Runs the racing transactions to the end, all of them (a deadlock or any
 * other error of one is the round's failure, after the rest finished).
 */
export async function race(ps: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(ps);
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (errors.length > 0) throw new Error(`racing transactions failed: ${errors.join('; ')}`);
}

/**
 * `rounds` rounds of a race; each returns what it got and what it should
 * have. Every round runs, so a failure shows how often the race goes wrong:
 * the failed rounds, each with what it got (or the error), are returned.
 */
export async function raceRounds(rounds: number, round: () => Promise<{ got: unknown; want: unknown }>): Promise<string[]> {
  const failures: string[] = [];
  for (let i = 0; i < rounds; i++) {
    try {
      const { got, want } = await round();
      if (!isDeepStrictEqual(got, want)) failures.push(`round ${i}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    } catch (err) {
      failures.push(`round ${i}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return failures;
}
