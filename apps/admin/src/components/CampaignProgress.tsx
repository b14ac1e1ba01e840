import { ProgressBar } from '@shopify/polaris';
import type { CampaignStats } from '../api/types';

/** Share of recipients that reached an outcome (sent or beyond). */
export function progressOf(s: CampaignStats): number {
  if (s.status === 'completed') return 100;
  if (s.total === 0) return 0;
  const done = s.total - s.pending - s.sending;
  return Math.max(0, Math.min(100, Math.round((done / s.total) * 100)));
}

export function CampaignProgress({ stats, label }: { stats: CampaignStats; label: string }) {
  const p = progressOf(stats);
  return (
    <div role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={p}>
      <ProgressBar progress={p} size="small" tone={stats.status === 'failed' ? 'critical' : 'primary'} />
    </div>
  );
}
