import { sql, type Sql, type Tx } from '../../lib/db';

/**
 * What a `charge.refunded` event is the refund of (`purchases.refund_keys`):
 * the Stripe refund ids its charge lists (but those it lists as failed or
 * cancelled: they took nothing), or `event:<its id>` when the charge lists
 * none (as on API versions from 2022-11-15). One definition, in
 * SQL (stripe_charge_refund_keys), so the completion that reads stored
 * events names a refund as its own event does.
 */
export async function chargeRefundKeys(tx: Tx, stripeEventId: string, payload: unknown): Promise<string[]> {
  const [row] = await tx.$queryRaw<{ keys: string[] }[]>`
    SELECT stripe_charge_refund_keys(${stripeEventId}, ${JSON.stringify(payload)}::jsonb) AS keys`;
  return row!.keys;
}

/** `purchases.refund_keys` with `keys` added, each once: the value of a purchase UPDATE's SET. */
export function withRefundKeys(keys: string[]): Sql {
  return sql`ARRAY(SELECT DISTINCT k FROM unnest(refund_keys || ${keys}::text[]) k ORDER BY k)`;
}
