import type { DbOrTx } from '../../lib/db';

/**
 * Pauses every live flow of a shop that may send nothing more (uninstalled,
 * or being erased): their runs hold where they are and no trigger starts one.
 */
export async function pauseShopFlows(db: DbOrTx, shopId: string, now: Date): Promise<number> {
  return db.$executeRaw`UPDATE flows SET status = 'paused', updated_at = ${now} WHERE shop_id = ${shopId}::uuid AND status = 'live'`;
}
