import type { Logger } from 'pino';
import type { Db } from '../../lib/db';
import { settleUnknownRecipients } from '../campaigns/settle-unknown';

// The on-call's way out of `unknown` (`npm run ops -- campaign:resolve-unknown`):
// once the provider's own records (its portal, support, a late export) say
// what became of a campaign's ambiguous sends, they are settled in bulk, as
// `sent` (charged once, like a settled send) or `failed` (free). Nothing is
// ever re-sent from here.

export type ResolveAs = 'sent' | 'failed';

/** Stored as the provider id of a row the on-call resolved as sent (the CHECK wants one; the provider's is not known). */
export const operatorMessageId = (recipientId: string): string => `operator:r${recipientId}`;

export interface ResolveUnknownResult {
  campaignId: string;
  as: ResolveAs;
  dryRun: boolean;
  /** Recipients `unknown` when the run started. */
  unknown: number;
  /** Of those, the ones this resolution can move (`sent` needs the segments the send recorded). */
  resolvable: number;
  /** Σ segments of the resolvable rows: what `--as sent` charges. */
  segments: number;
  /** Rows moved (0 on a dry run). */
  moved: number;
  charged: number;
  shortfall: number;
}

const CHUNK = 1_000;

/**
 * Resolves a campaign's `unknown` recipients as `sent` or `failed`, in chunks
 * of short transactions (each guarded row moves once, with its charge, in the
 * same transaction; a concurrent delivery report or a second run moves
 * nothing twice). A dry run only counts. Returns null for an unknown campaign.
 */
export async function resolveUnknownRecipients(
  db: Db,
  o: { campaignId: string; as: ResolveAs; dryRun: boolean; logger?: Logger },
): Promise<ResolveUnknownResult | null> {
  const [campaign] = await db.$queryRaw<{ trace_id: string | null }[]>`SELECT trace_id FROM campaigns WHERE id = ${o.campaignId}::uuid`;
  if (!campaign) return null;
  const [count] = await db.$queryRaw<{ unknown: bigint; resolvable: bigint; segments: bigint | null }[]>`
    SELECT count(*) AS unknown,
           count(*) FILTER (WHERE ${o.as} = 'failed' OR segments IS NOT NULL) AS resolvable,
           sum(segments) FILTER (WHERE segments IS NOT NULL) AS segments
      FROM campaign_recipients
     WHERE campaign_id = ${o.campaignId}::uuid AND status = 'unknown' AND sent_at IS NULL`;
  const result: ResolveUnknownResult = {
    campaignId: o.campaignId,
    as: o.as,
    dryRun: o.dryRun,
    unknown: Number(count?.unknown ?? 0),
    resolvable: Number(count?.resolvable ?? 0),
    segments: o.as === 'sent' ? Number(count?.segments ?? 0) : 0,
    moved: 0,
    charged: 0,
    shortfall: 0,
  };
  if (o.dryRun) return result;

  let after = 0n;
  for (;;) {
    const step = await db.$transaction(async (tx) => {
      const ids = await tx.$queryRaw<{ id: bigint }[]>`
        SELECT id FROM campaign_recipients
         WHERE campaign_id = ${o.campaignId}::uuid AND status = 'unknown' AND sent_at IS NULL AND id > ${after}::bigint
           AND (${o.as} = 'failed' OR segments IS NOT NULL)
         ORDER BY id LIMIT ${CHUNK}::int`;
      if (ids.length === 0) return null;
      const settled = await settleUnknownRecipients(
        tx,
        ids.map(({ id }) => ({
          id: String(id),
          status: o.as,
          providerMessageId: o.as === 'sent' ? operatorMessageId(String(id)) : null,
          errorCode: o.as === 'failed' ? 'resolved_by_operator' : null,
        })),
        { logger: o.logger, traceId: campaign.trace_id },
      );
      return { last: ids[ids.length - 1]!.id, full: ids.length === CHUNK, settled };
    });
    if (!step) break;
    result.moved += step.settled.moved.length;
    result.charged += step.settled.charged;
    result.shortfall += step.settled.shortfall;
    after = step.last;
    if (!step.full) break;
  }
  o.logger?.warn({ campaignId: o.campaignId, as: o.as, moved: result.moved, charged: result.charged, shortfall: result.shortfall }, 'unknown recipients resolved by hand');
  return result;
}
