import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import { CAMPAIGN_COLUMNS, type CampaignRow } from './campaign-view';

/** The shop's campaign; another shop's id is NOT_FOUND, never a hint that it exists. */
export async function getCampaignRow(db: DbOrTx, shopId: string, campaignId: string, opts: { forUpdate?: boolean } = {}): Promise<CampaignRow> {
  const rows = opts.forUpdate
    ? await db.$queryRaw<CampaignRow[]>`SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ${campaignId}::uuid AND shop_id = ${shopId}::uuid FOR UPDATE`
    : await db.$queryRaw<CampaignRow[]>`SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ${campaignId}::uuid AND shop_id = ${shopId}::uuid`;
  if (!rows[0]) throw notFound('Campaign');
  return rows[0];
}
