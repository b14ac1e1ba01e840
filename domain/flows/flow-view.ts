import { raw } from '../../lib/db';
import type { ExitCondition, FlowStatus, FlowStep, FlowTrigger, SmartSending, TriggerType } from './flow-input';

export interface FlowRow {
  id: string;
  shop_id: string;
  name: string;
  trigger_type: TriggerType;
  trigger_config: unknown;
  status: FlowStatus;
  current_version_id: string | null;
  created_at: Date;
  updated_at: Date;
  activated_at: Date | null;
}

export const FLOW_COLUMNS = raw('id, shop_id, name, trigger_type, trigger_config, status, current_version_id, created_at, updated_at, activated_at');

export interface FlowVersionRow {
  id: string;
  flow_id: string;
  version: number;
  steps: FlowStep[];
  exit_condition: ExitCondition;
  smart_sending: SmartSending;
  created_at: Date;
}

export const FLOW_VERSION_COLUMNS = raw('id, flow_id, version, steps, exit_condition, smart_sending, created_at');

export interface FlowVersionView {
  id: string;
  version: number;
  steps: FlowStep[];
  exitCondition: ExitCondition;
  smartSending: SmartSending;
  createdAt: string;
}

/** One line of a flow's history: what each version is and how many runs it carries. */
export interface FlowVersionSummary {
  id: string;
  version: number;
  stepCount: number;
  createdAt: string;
  runs: { active: number; total: number };
}

/** The published flow (api.md, Flows). */
export interface FlowView {
  id: string;
  name: string;
  trigger: FlowTrigger;
  status: FlowStatus;
  currentVersion: FlowVersionView | null;
  createdAt: string;
  updatedAt: string;
  activatedAt: string | null;
}

export interface FlowDetailView extends FlowView {
  versions: FlowVersionSummary[];
}

/** The trigger as published: its type and its stored settings. */
export function triggerOf(type: TriggerType, config: unknown): FlowTrigger {
  const c = (config ?? {}) as Record<string, unknown>;
  if (type === 'checkout_abandoned') return { type, delayMinutes: typeof c.delayMinutes === 'number' ? c.delayMinutes : 60 };
  return { type };
}

/** The stored part of a trigger (everything but its type, which has its own column). */
export function triggerConfigOf(t: FlowTrigger): Record<string, unknown> {
  const { type: _type, ...config } = t;
  return config;
}

export function toFlowVersionView(v: FlowVersionRow): FlowVersionView {
  return {
    id: v.id,
    version: v.version,
    steps: v.steps,
    exitCondition: v.exit_condition,
    smartSending: v.smart_sending,
    createdAt: v.created_at.toISOString(),
  };
}

export function toFlowView(r: FlowRow, version: FlowVersionRow | null): FlowView {
  return {
    id: r.id,
    name: r.name,
    trigger: triggerOf(r.trigger_type, r.trigger_config),
    status: r.status,
    currentVersion: version ? toFlowVersionView(version) : null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    activatedAt: r.activated_at ? r.activated_at.toISOString() : null,
  };
}
