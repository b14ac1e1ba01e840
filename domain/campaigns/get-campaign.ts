import { raw, sql, type DbOrTx, type Sql } from '../../lib/db';
import { notFound } from '../../lib/errors';
import { CAMPAIGN_COLUMNS, type CampaignRow } from './campaign-view';
import type { RecipientTotals } from './count-recipients';
import type { FrozenTimeseries } from './rebin-frozen-timeseries';

/** What a campaign past the recipient retention keeps of its rows (freeze-campaign-recipients.ts); null until frozen. */
export interface FrozenRecipients {
  recipient_totals: RecipientTotals | null;
  recipient_timeseries: FrozenTimeseries | null;
}

const FROZEN_COLUMNS = raw('recipient_totals, recipient_timeseries');

async function readCampaign<T>(db: DbOrTx, shopId: string, campaignId: string, columns: Sql, forUpdate: boolean): Promise<T> {
  const rows = forUpdate
    ? await db.$queryRaw<T[]>`SELECT ${columns} FROM campaigns WHERE id = ${campaignId}::uuid AND shop_id = ${shopId}::uuid FOR UPDATE`
    : await db.$queryRaw<T[]>`SELECT ${columns} FROM campaigns WHERE id = ${campaignId}::uuid AND shop_id = ${shopId}::uuid`;
  if (!rows[0]) throw notFound('Campaign');
  return rows[0];
}

/** The shop's campaign; another shop's id is NOT_FOUND, never a hint that it exists. */
export async function getCampaignRow(db: DbOrTx, shopId: string, campaignId: string, opts: { forUpdate?: boolean } = {}): Promise<CampaignRow> {
  return readCampaign<CampaignRow>(db, shopId, campaignId, CAMPAIGN_COLUMNS, opts.forUpdate ?? false);
}

/** The same, with what its recipients were frozen to, in the one read (stats and the chart). */
export async function getCampaignWithFrozen(db: DbOrTx, shopId: string, campaignId: string): Promise<CampaignRow & FrozenRecipients> {
  return readCampaign<CampaignRow & FrozenRecipients>(db, shopId, campaignId, sql`${CAMPAIGN_COLUMNS}, ${FROZEN_COLUMNS}`, false);
}
