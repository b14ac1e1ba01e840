import type { Tx } from '../../lib/db';
import { payWhatIsOwed } from '../credits/pay-what-is-owed';
import { closeFlowHold } from './close-flow-hold';

export interface FlowMessageCharge {
  messageId: string;
  flowId: string;
  segments: number;
  traceId: string | null;
}

/** The ledger key of what one claim's settle charged a shop for one flow's messages. */
export const flowClaimDebitKey = (claimToken: string, flowId: string): string => `flow-claim-${claimToken}-${flowId}`;

/**
 * Charges the sent messages of one shop from one claim's settle, in ONE
 * statement. Each message is charged its segments from what the wallet holds
 * beyond every campaign's reservation, in order; a message the balance cannot
 * cover is charged what is left (never a negative balance). The ledger gets
 * one row per flow of the claim (key `flow-claim-<claim token>-<flow id>`,
 * reference `flow:<flow id>`, balance_after and ledger_seq chained from the
 * locked wallet in the same order),
 * as a campaign batch's settle writes one per batch; each message records its
 * own charge in `flow_messages.credits`. A row per message was a third of the
 * burst's debit time and 330 B of Postgres per message (docs/performance.md).
 *
 * Exactly once: callers charge only messages they moved to `sent` in the same
 * transaction under this claim (a guarded UPDATE a retry cannot repeat), and
 * a claim token is settled once; a key found already used throws and rolls
 * the transaction back rather than drift. Returns the credits charged per
 * message id.
 *
 * `holdKey`: the claim's credit hold for this shop (hold-flow-credits.ts),
 * taken before the provider call. The messages are charged out of it first,
 * and it closes in the same statement, whatever was charged (`reserved`
 * gives back all of it; what it held beyond the charge pays what a refund
 * or dispute that came meanwhile is owed first). Without one, or once reconciliation gave an expired
 * one back, they are charged from what no reservation holds.
 */
export async function debitFlowMessages(
  tx: Tx,
  shopId: string,
  claimToken: string,
  messages: FlowMessageCharge[],
  holdKey: string | null = null,
): Promise<Map<string, number>> {
  const charged = new Map<string, number>();
  if (messages.length === 0) {
    if (holdKey) await closeFlowHold(tx, { shopId, key: holdKey, segments: 0 });
    return charged;
  }
  const rows = await tx.$queryRaw<{ ids: string[] | null; charges: number[]; flows: string[] | null; written: string[] | null; since: Date | null; freed: bigint | null }[]>`
    WITH wallet_row AS MATERIALIZED (
      SELECT shop_id, balance, reserved, ledger_seq FROM credit_wallets WHERE shop_id = ${shopId}::uuid FOR UPDATE
    ), hold AS MATERIALIZED (
      -- After the wallet, as every credit path locks them.
      SELECT r.id, r.created_at, r.amount - r.consumed - r.released AS held FROM credit_reservations r, wallet_row
       WHERE r.shop_id = wallet_row.shop_id AND r.reservation_key = ${holdKey} AND r.status = 'active'
         FOR UPDATE OF r
    ), w AS MATERIALIZED (
      -- What the messages may be charged from: the claim's hold, then what no reservation holds.
      SELECT wr.shop_id, wr.balance, wr.ledger_seq, COALESCE(h.held, 0) AS held, wr.balance - wr.reserved + COALESCE(h.held, 0) AS covers
        FROM wallet_row wr LEFT JOIN hold h ON true
    ), u AS (
      SELECT * FROM unnest(${messages.map((m) => m.messageId)}::bigint[], ${messages.map((m) => m.segments)}::int[],
                           ${messages.map((m) => m.flowId)}::uuid[], ${messages.map((m) => m.traceId)}::text[]) WITH ORDINALITY AS u(id, segments, flow_id, trace_id, ord)
    ), calc AS MATERIALIZED (
      -- Charged in order from what is left: once one message falls short, the rest get nothing.
      SELECT u.id, u.flow_id, u.trace_id, u.ord,
             GREATEST(0, LEAST(u.segments::bigint, w.covers - COALESCE(sum(u.segments) OVER (ORDER BY u.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))::bigint AS charge
        FROM u, w
    ), per_flow AS MATERIALIZED (
      SELECT flow_id, sum(charge)::bigint AS charge, min(ord) AS first, (array_agg(trace_id ORDER BY ord))[1] AS trace_id
        FROM calc GROUP BY flow_id HAVING sum(charge) > 0
    ), ledger AS (
      INSERT INTO credit_transactions (shop_id, type, amount, balance_after, reference, idempotency_key, trace_id, ledger_seq)
      SELECT w.shop_id, 'debit', -p.charge, w.balance - sum(p.charge) OVER (ORDER BY p.first), 'flow:' || p.flow_id::text,
             'flow-claim-' || ${claimToken}::text || '-' || p.flow_id::text, p.trace_id, w.ledger_seq + row_number() OVER (ORDER BY p.first)
        FROM per_flow p, w
       ORDER BY p.first
      ON CONFLICT (shop_id, idempotency_key) DO NOTHING
      RETURNING amount, idempotency_key, ledger_seq
    ), closed AS (
      -- The hold closes whatever was charged: consumed as far as the charge goes, the rest given back.
      UPDATE credit_reservations r
         SET consumed = r.consumed + t.taken, released = r.released + (h.held - t.taken), status = 'closed', updated_at = now()
        FROM hold h, (SELECT LEAST((SELECT held FROM hold), COALESCE((SELECT sum(charge) FROM calc), 0))::bigint AS taken) t
       WHERE r.id = h.id
      RETURNING h.created_at AS since, h.held - t.taken AS freed
    ), wallet AS (
      UPDATE credit_wallets cw SET balance = cw.balance + COALESCE((SELECT sum(amount) FROM ledger), 0), reserved = cw.reserved - w.held,
             ledger_seq = COALESCE((SELECT max(ledger_seq) FROM ledger), cw.ledger_seq), updated_at = now()
        FROM w WHERE cw.shop_id = w.shop_id AND (EXISTS (SELECT 1 FROM ledger) OR w.held > 0)
      RETURNING 1
    )
    -- One row of arrays: joined to calc row by row, the planner re-scanned the ledger for every
    -- message (277 ms for 760 messages, measured).
    SELECT (SELECT array_agg(id::text ORDER BY ord) FROM calc) AS ids, (SELECT array_agg(charge::int ORDER BY ord) FROM calc) AS charges,
           (SELECT array_agg(flow_id::text) FROM per_flow) AS flows, (SELECT array_agg(idempotency_key) FROM ledger) AS written,
           (SELECT since FROM closed) AS since, (SELECT freed FROM closed) AS freed`;
  const [row] = rows;
  const written = new Set(row?.written ?? []);
  for (const flowId of row?.flows ?? []) {
    const key = flowClaimDebitKey(claimToken, flowId);
    if (!written.has(key)) throw new Error(`debit key ${key} was already used`);
  }
  (row?.ids ?? []).forEach((id, i) => charged.set(id, row?.charges[i] ?? 0));
  // What the hold gave back unspent pays a refund or dispute that came while it held it (close-flow-hold.ts).
  if (row?.since) await payWhatIsOwed(tx, { shopId, freed: Number(row.freed ?? 0), reservedSince: row.since });
  return charged;
}
