import { runReconciliation } from '../../../../domain/reconciliation/run-reconciliation';
import { defineHandler } from './types';

export const reconcileRunHandler = defineHandler('reconcile.run.v1', async (payload, { deps }) => {
  const report = await runReconciliation(deps, { campaignId: payload.campaignId });
  return { repairs: report.repairs, campaignsStuck: report.campaignsStuck, ledgerMismatches: report.ledgerMismatches.length };
});
