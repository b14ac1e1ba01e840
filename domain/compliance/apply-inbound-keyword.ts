import type { Tx } from '../../lib/db';
import { boundedText, declareConsentSource } from '../consent/consent-source';
import type { InboundRoute } from './inbound-route';
import type { InboundKeyword } from './inbound-keyword';
import { liftSuppression, suppress } from './suppressions';

export interface KeywordEffect {
  keyword: InboundKeyword | null;
  /** The number's plain hash (contacts.phone_hash); tombstones match by it too. */
  fromHash: string;
  /** The number's keyed hash (sms_suppressions.phone_hmac). */
  fromHmac: string;
  route: InboundRoute;
  /** When the handset sent it (clamped to now by the caller). */
  at: Date;
  /** Evidence for the consent record: the provider, its message id and the text as received. */
  message?: { provider: string; id: string; text: string };
}

/**
 * STOP is recorded as a suppression in the route's scope (checked at send
 * time, so it binds contacts added later by any path), and opts out the
 * contacts that already hold the number in the shops it binds: the owner, or
 * every shop on a shared sender (a shared sender must never under-apply an
 * opt-out). No shop gains a contact row: a number a shop does not hold stays
 * unreadable to it. START lifts the suppression of its scope and opts back
 * in where the opt-out is not newer than the START (a STOP that arrives late
 * always wins); on a shared sender only keyword opt-outs are lifted (a START
 * to a sender many shops use is no consent to any one of them). Returns the
 * contacts changed.
 */
export async function applyInboundKeyword(tx: Tx, e: KeywordEffect): Promise<number> {
  const shopIds = e.route.kind === 'owned' ? [e.route.shopId] : e.route.kind === 'shared' ? e.route.shopIds : [];
  if ((e.keyword === 'STOP' || e.keyword === 'START') && shopIds.length > 0) {
    await declareConsentSource(tx, {
      source: 'keyword',
      collectedAt: e.at,
      evidence: { keyword: e.keyword, text: boundedText(e.message?.text), provider: e.message?.provider ?? null, inboundMessageId: boundedText(e.message?.id) },
    });
  }
  if (e.keyword === 'STOP') {
    await suppress(tx, { hmac: e.fromHmac, scope: e.route.scope, at: e.at });
    if (shopIds.length === 0) return 0;
    return tx.$executeRaw`
      UPDATE contacts
         SET sms_consent = 'unsubscribed',
             opted_out_at = GREATEST(COALESCE(opted_out_at, ${e.at}), ${e.at}),
             opt_out_source = 'keyword',
             updated_at = now()
       WHERE shop_id = ANY(${shopIds}::uuid[]) AND phone_hash = ${e.fromHash}`;
  }
  if (e.keyword === 'START') {
    await liftSuppression(tx, { hmac: e.fromHmac, scope: e.route.scope, at: e.at });
    if (shopIds.length === 0) return 0;
    const keywordOnly = e.route.kind === 'shared';
    return tx.$executeRaw`
      UPDATE contacts
         SET sms_consent = 'subscribed', opted_out_at = NULL, opt_out_source = NULL, updated_at = now()
       WHERE shop_id = ANY(${shopIds}::uuid[]) AND phone_hash = ${e.fromHash}
         AND erased_at IS NULL AND phone_e164 IS NOT NULL
         AND (opted_out_at IS NULL OR opted_out_at <= ${e.at})
         AND (NOT ${keywordOnly}::boolean OR opt_out_source = 'keyword')`;
  }
  return 0;
}
