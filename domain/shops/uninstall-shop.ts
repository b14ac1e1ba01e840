import type { Db, DbOrTx } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { cancelCampaign } from '../campaigns/cancel-campaign';
import { inTransaction } from '../consent/consent-source';
import { endShopTestRuns } from '../flows/end-shop-test-runs';
import { pauseShopFlows } from '../flows/pause-shop-flows';
import { UNGUARDED } from '../idempotency/guard';

export interface UninstallResult {
  campaignsCancelled: number;
  creditsReleased: number;
}

/**
 * Which installation an uninstall belongs to: `receivedAt`, when the
 * app/uninstalled event was received. A shop whose current installation began
 * later (re-installed: exchange-token.ts sets `installed_at`) is not the one
 * that event uninstalled, so an old event processed now (replayed by hand,
 * or its job still retrying) leaves it alone.
 */
export interface UninstallOf {
  receivedAt?: Date;
}

/**
 * active → uninstalled (guarded: a replay changes nothing), its live flows
 * paused and its flow test runs ended, an open customer sync failed, and the access token erased whatever
 * the status: the token row goes, claim included, so an
 * exchange still in flight cannot store its result (its UPDATE is fenced by
 * the claim). Null, with nothing changed, when the shop was installed again
 * after the uninstall was received (UninstallOf): the shop row is locked
 * first, so a re-install commits either before (then nothing happens) or
 * after this.
 */
export async function markShopUninstalled(db: DbOrTx, shopId: string, now: Date, of: UninstallOf = {}): Promise<boolean | null> {
  return inTransaction(db, async (tx) => {
    if (of.receivedAt) {
      const [shop] = await tx.$queryRaw<{ reinstalled: boolean }[]>`
        SELECT installed_at > ${of.receivedAt}::timestamptz AS reinstalled FROM shops WHERE id = ${shopId}::uuid FOR UPDATE`;
      if (shop?.reinstalled) return null;
    }
    const n = await tx.$executeRaw`
      UPDATE shops SET status = 'uninstalled', uninstalled_at = ${now}, updated_at = ${now}
       WHERE id = ${shopId}::uuid AND status = 'active'`;
    await tx.$executeRaw`DELETE FROM shop_access_tokens WHERE shop_id = ${shopId}::uuid`;
    // A flow's next messages would still go out (a welcome series days later):
    // its live flows are paused, which holds their runs where they are and
    // starts no new ones; a re-installed shop's merchant resumes them.
    await pauseShopFlows(tx, shopId, now);
    // Test runs go on whatever their flow's status: ended, or a re-install would resume them while the flows stay paused.
    await endShopTestRuns(tx, shopId);
    // A customer sync cannot go on without a token; a re-install starts a new one.
    await tx.$executeRaw`
      UPDATE shop_syncs SET status = 'failed', error = 'The app was uninstalled during the sync', finished_at = now(),
             claim_token = NULL, lease_until = NULL, updated_at = now()
       WHERE shop_id = ${shopId}::uuid AND status IN ('queued', 'running')`;
    return n === 1;
  });
}

/**
 * app/uninstalled: the shop stops being served first (session auth refuses
 * any shop that is not active, and provisioning keeps refusing it: a
 * re-install is an explicit operator step, see docs/webhooks.md), so nothing
 * new can start; then every campaign that has not finished is cancelled with
 * the same function as POST /api/campaigns/:id/cancel (pending recipients
 * cancelled, the reservation released except what in-flight sends may still
 * consume). Each step is idempotent, so a retry or replay repairs whatever a
 * crash left half done. Null when the shop was installed again after the
 * uninstall was received (UninstallOf): nothing of the new installation is
 * touched.
 */
export async function uninstallShop(db: Db, shopId: string, now: Date, of: UninstallOf = {}): Promise<UninstallResult | null> {
  if ((await markShopUninstalled(db, shopId, now, of)) === null) return null;
  // A re-install committed since the mark: its campaigns are the new installation's.
  const open = await db.$queryRaw<{ id: string }[]>`
    SELECT c.id FROM campaigns c
     WHERE c.shop_id = ${shopId}::uuid AND c.status IN ('draft', 'scheduled', 'queued', 'sending')
       AND NOT EXISTS (SELECT 1 FROM shops s WHERE s.id = c.shop_id AND s.installed_at > ${of.receivedAt ?? null}::timestamptz)
     ORDER BY c.created_at`;
  let campaignsCancelled = 0;
  let creditsReleased = 0;
  for (const c of open) {
    try {
      const r = await cancelCampaign(db, { shopId, campaignId: c.id, guard: UNGUARDED, now });
      campaignsCancelled++;
      creditsReleased += r.released;
    } catch (err) {
      // Finished (completed/failed) between the read and the cancel: nothing left to stop.
      if (!(err instanceof AppError && err.code === 'INVALID_STATE')) throw err;
    }
  }
  return { campaignsCancelled, creditsReleased };
}
