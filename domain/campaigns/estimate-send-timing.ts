import type { DbOrTx } from '../../lib/db';
import { quietHoursCheck } from '../compliance/recipient-quiet-hours';
import { audienceWhere } from './audience';
import type { SendContext } from './send-context';

export interface SendTimingEstimate {
  /** Sendable audience contacts a campaign texted within the shop's smart-sending window (0 when the cap is off for this campaign). */
  frequencyCapped: number;
  /** Sendable audience contacts inside their quiet hours at `now` (deferred, not dropped, if sent now). */
  deferredNow: number;
}

/**
 * What the send path would do with the audience at `now`, estimated in ONE
 * grouped pass over the audience's sendable contacts (joined to their send
 * slots): the frequency cap is the same comparison the claim makes, and
 * quiet hours are decided per distinct (contact zone, number prefix) — the
 * first five characters of an E.164 number hold its calling code and, for
 * +1, its area code, all the recipient's zone depends on. An estimate: a
 * slot taken or a window opening between now and the send changes it.
 */
export async function estimateSendTiming(
  db: DbOrTx,
  ctx: Pick<SendContext, 'shopId' | 'audienceTags' | 'audienceOrders' | 'frequencyCap' | 'timezone' | 'quietStart' | 'quietEnd'>,
  o: { now: Date; quietHoursFloor: boolean },
): Promise<SendTimingEstimate> {
  const cutoff = ctx.frequencyCap ? new Date(o.now.getTime() - ctx.frequencyCap.windowHours * 3_600_000) : o.now;
  const groups = await db.$queryRaw<{ timezone: string | null; prefix: string | null; n: bigint; capped: bigint }[]>`
    SELECT a.timezone, left(a.phone_e164, 5) AS prefix, count(*) AS n,
           count(*) FILTER (WHERE ${ctx.frequencyCap !== null}::boolean AND s.last_at > ${cutoff}::timestamptz) AS capped
      FROM contacts a LEFT JOIN contact_send_slots s ON s.contact_id = a.id
     WHERE ${audienceWhere('a', ctx.shopId, ctx.audienceTags, ctx.audienceOrders)}
     GROUP BY 1, 2`;
  const quiet = quietHoursCheck(ctx, o.now, { floor: o.quietHoursFloor });
  let frequencyCapped = 0;
  let deferredNow = 0;
  for (const g of groups) {
    frequencyCapped += Number(g.capped);
    if (quiet({ phone: g.prefix, timezone: g.timezone })) deferredNow += Number(g.n);
  }
  return { frequencyCapped, deferredNow };
}
