import { Badge, type BadgeProps } from '@shopify/polaris';
import type { FlowStatus } from '../api/flow-types';
import { FLOW_STATUS_LABEL } from '../flows';

const TONE: Record<FlowStatus, BadgeProps['tone']> = { draft: undefined, live: 'success', paused: 'warning' };

export function FlowStatusBadge({ status }: { status: FlowStatus }) {
  return <Badge tone={TONE[status]}>{FLOW_STATUS_LABEL[status]}</Badge>;
}
