import type { Tx } from '../../lib/db';
import { phoneHmac, shopScope, suppress } from '../compliance/suppressions';

/** A contact row as it was before Shopify moved it (or not) to another number. */
export interface LeftNumber {
  old_phone: string | null;
  old_opted_out_at: Date | null;
  old_source: string | null;
  moved: boolean;
}

/**
 * An opt-out belongs to the number: when Shopify moves an opted-out contact
 * to another number, the number it left stays opted out as a suppression in
 * the shop's scope, at the opt-out's time, so whoever holds it later, added
 * by any path, is never texted by the shop until the person texts START. A
 * keyword opt-out already has its suppression, in the scope its STOP was sent
 * to (a second one here would outlive the START that lifts that one).
 */
export async function keepLeftNumberOptOut(tx: Tx, o: { shopId: string; phoneHashKey?: string }, r: LeftNumber): Promise<void> {
  if (!r.moved || !r.old_phone || !r.old_opted_out_at || r.old_source === 'keyword') return;
  if (!o.phoneHashKey) throw new Error('moving an opted-out contact to another number needs phoneHashKey to keep the old number opted out');
  await suppress(tx, { hmac: phoneHmac(o.phoneHashKey, r.old_phone), scope: shopScope(o.shopId), at: r.old_opted_out_at });
}
