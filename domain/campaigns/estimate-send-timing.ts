import type { DbOrTx } from '../../lib/db';
import type { ScanThrottle } from '../../lib/scan-throttle';
import { sendTimeCheck } from '../compliance/send-time';
import { audienceWhere } from './audience';
import type { SendContext } from './send-context';

export interface SendTimingEstimate {
  /** Sendable audience contacts a campaign texted within the shop's smart-sending window (0 when the cap is off for this campaign). */
  frequencyCapped: number;
  /** Sendable audience contacts inside their quiet hours at `now` (deferred, not dropped, if sent now). */
  deferredNow: number;
  /** Sendable audience contacts whose quiet hours leave no instant within the send path's bound (skipped quiet_hours if sent now; compliance/send-time.ts). */
  quietHoursSkipped: number;
}

interface TimingGroup {
  timezone: string | null;
  prefix: string | null;
  n: number;
  capped: number;
}

/**
 * What the send path would do with the audience at `now`, estimated in ONE
 * grouped pass over the audience's sendable contacts (joined to their send
 * slots): the frequency cap is the same comparison the claim makes, and
 * quiet hours are decided per distinct (contact zone, number prefix) — the
 * first five characters of an E.164 number hold its calling code and, for
 * +1, its area code, all the recipient's zone depends on. An estimate: a
 * slot taken or a window opening between now and the send changes it.
 *
 * With `scans` (the preview route's), a large audience's pass is shared and
 * kept as lib/scan-throttle.ts keeps a campaign's statistics (at most 10 µs
 * old per contact it read: 10 s at a million): previews come at up to the
 * campaigns' rate limit, and each pass is ~0.6–0.75 µs of Postgres per contact.
 * Quiet hours are still decided at `now` from the kept groups.
 */
export async function estimateSendTiming(
  db: DbOrTx,
  ctx: Pick<SendContext, 'shopId' | 'audienceTags' | 'audienceOrders' | 'frequencyCap' | 'timezone' | 'quietStart' | 'quietEnd'>,
  o: { now: Date; quietHoursFloor: boolean; scans?: ScanThrottle },
): Promise<SendTimingEstimate> {
  const cutoff = ctx.frequencyCap ? new Date(o.now.getTime() - ctx.frequencyCap.windowHours * 3_600_000) : o.now;
  const pass = async (): Promise<{ value: TimingGroup[]; rows: number }> => {
    const rows = await db.$queryRaw<{ timezone: string | null; prefix: string | null; n: bigint; capped: bigint }[]>`
      SELECT a.timezone, left(a.phone_e164, 5) AS prefix, count(*) AS n,
             count(*) FILTER (WHERE ${ctx.frequencyCap !== null}::boolean AND s.last_at > ${cutoff}::timestamptz) AS capped
        FROM contacts a LEFT JOIN contact_send_slots s ON s.contact_id = a.id
       WHERE ${audienceWhere('a', ctx.shopId, ctx.audienceTags, ctx.audienceOrders)}
       GROUP BY 1, 2`;
    const value = rows.map((g) => ({ timezone: g.timezone, prefix: g.prefix, n: Number(g.n), capped: Number(g.capped) }));
    return { value, rows: value.reduce((sum, g) => sum + g.n, 0) };
  };
  // Everything the pass depends on but the clock: the shop, the audience's definition and the cap's window.
  const key = `timing:${ctx.shopId}:${JSON.stringify([ctx.audienceTags, ctx.audienceOrders, ctx.frequencyCap?.windowHours ?? null])}`;
  const groups = o.scans ? await o.scans.read(key, pass) : (await pass()).value;
  const quiet = sendTimeCheck(ctx, o.now, { floor: o.quietHoursFloor });
  let frequencyCapped = 0;
  let deferredNow = 0;
  let quietHoursSkipped = 0;
  for (const g of groups) {
    frequencyCapped += g.capped;
    const at = quiet({ phone: g.prefix, timezone: g.timezone });
    if (at === 'never') quietHoursSkipped += g.n;
    else if (at) deferredNow += g.n;
  }
  return { frequencyCapped, deferredNow, quietHoursSkipped };
}
