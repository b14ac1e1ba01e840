import { Badge, type BadgeProps } from '@shopify/polaris';
import type { CampaignStatus } from '../api/types';

const TONE: Record<CampaignStatus, BadgeProps['tone']> = {
  draft: undefined,
  scheduled: 'info',
  queued: 'attention',
  sending: 'attention',
  completed: 'success',
  cancelled: 'warning',
  failed: 'critical',
};

const LABEL: Record<CampaignStatus, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  queued: 'Queued',
  sending: 'Sending',
  completed: 'Completed',
  cancelled: 'Cancelled',
  failed: 'Failed',
};

export function StatusBadge({ status }: { status: CampaignStatus }) {
  return <Badge tone={TONE[status]}>{LABEL[status]}</Badge>;
}

export const IN_PROGRESS: CampaignStatus[] = ['queued', 'sending'];
