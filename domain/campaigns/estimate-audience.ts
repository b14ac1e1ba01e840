import type { DbOrTx } from '../../lib/db';
import { GSM_BASIC_CHARS, GSM_EXTENSION_CHARS, isGsm7 } from '../messaging/segments';
import { maxRenderedLengthParts, upperBoundSegmentsFor } from '../messaging/template';
import { audienceWhere } from './audience';
import { parsedBody } from './parsed-body';

export interface AudienceEstimate {
  /** Sendable contacts matching the audience now. */
  recipients: number;
  /** A safe upper bound on any one recipient's segments. */
  segmentsPerMessage: number;
  /** recipients × segmentsPerMessage: what enqueue reserves. */
  credits: number;
}

const GSM_ALPHABET = GSM_BASIC_CHARS + GSM_EXTENSION_CHARS;

/**
 * Sizes a campaign without rendering a single message: ONE aggregate over the
 * audience (the same predicate the launch materialises) gives the count, the
 * longest first and last name and whether any holds a non-GSM character;
 * upperBoundSegmentsFor turns those into a per-message bound that no
 * recipient's rendered message (footer included) can exceed.
 */
export async function estimateAudience(
  db: DbOrTx,
  c: { shopId: string; body: string; tags: string[]; shopName: string; optOutFooter: boolean },
): Promise<AudienceEstimate> {
  const template = parsedBody(c.body);
  // translate() deletes every GSM character: anything left is outside GSM-7.
  const [agg] = await db.$queryRaw<{ n: bigint; first_len: number; last_len: number; first_unicode: boolean; last_unicode: boolean }[]>`
    SELECT count(*) AS n,
           coalesce(max(char_length(a.first_name)), 0)::int AS first_len,
           coalesce(max(char_length(a.last_name)), 0)::int AS last_len,
           coalesce(bool_or(translate(a.first_name, ${GSM_ALPHABET}, '') <> ''), false) AS first_unicode,
           coalesce(bool_or(translate(a.last_name, ${GSM_ALPHABET}, '') <> ''), false) AS last_unicode
      FROM contacts a
     WHERE ${audienceWhere('a', c.shopId, c.tags)}`;
  const recipients = Number(agg?.n ?? 0);
  const used = new Set(maxRenderedLengthParts(template).placeholders.map((p) => p.name));
  const anyUnicode =
    (used.has('firstName') && agg?.first_unicode === true) ||
    (used.has('lastName') && agg?.last_unicode === true) ||
    (used.has('shopName') && !isGsm7(c.shopName));
  const bound = upperBoundSegmentsFor(
    template,
    { firstName: agg?.first_len ?? 0, lastName: agg?.last_len ?? 0, shopName: c.shopName },
    anyUnicode,
    c.optOutFooter,
  );
  const segmentsPerMessage = Math.max(1, bound);
  return { recipients, segmentsPerMessage, credits: recipients * segmentsPerMessage };
}
