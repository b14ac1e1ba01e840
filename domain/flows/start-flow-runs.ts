import type { Tx } from '../../lib/db';
import { recipientZones } from '../compliance/recipient-time-zone';
import type { FlowStep, TriggerType } from './flow-input';
import { planStart } from './plan-start';

/** One trigger occurrence for one contact: what may start a run in each matching flow. */
export interface TriggerCandidate {
  contactId: string;
  /** Unique per occurrence: the consent record id, the checkout token, the order id, the manual request. */
  subject: string;
  triggeredAt: Date;
  /** When the run's first step may be due at the earliest (before its leading waits). */
  baseAt: Date;
  phone: string | null;
  timezone: string | null;
}

export interface LiveFlow {
  id: string;
  versionId: string;
  steps: FlowStep[];
}

export type RunTriggerType = TriggerType | 'manual';

export interface StartedRun {
  id: string;
  flow_id: string;
  contact_id: string;
  version_id: string;
  current_step: number;
  next_due_at: Date;
}

/**
 * Starts one run per (flow, candidate) in one statement; a pair that already
 * has its run (same flow, contact and subject; or, for "contact subscribed",
 * any earlier run of that contact in that flow) is skipped by the unique keys,
 * so any repetition of a trigger starts nothing more. The flow must still be
 * live on the version planned (`requireLive`; a manual test run is for any
 * status) when the statement runs, which re-reads it.
 */
export async function startFlowRuns(
  tx: Tx,
  o: { shopId: string; triggerType: RunTriggerType; flows: LiveFlow[]; candidates: TriggerCandidate[]; shopTimezone: string; traceId: string | null; requireLive: boolean },
): Promise<StartedRun[]> {
  const flowIds: string[] = [];
  const versionIds: string[] = [];
  const contactIds: string[] = [];
  const subjects: string[] = [];
  const triggeredAts: Date[] = [];
  const steps: number[] = [];
  const dues: Date[] = [];
  for (const c of o.candidates) {
    const zones = recipientZones(c.phone, c.timezone, o.shopTimezone);
    for (const f of o.flows) {
      const plan = planStart(f.steps, c.baseAt, zones);
      flowIds.push(f.id);
      versionIds.push(f.versionId);
      contactIds.push(c.contactId);
      subjects.push(c.subject);
      triggeredAts.push(c.triggeredAt);
      steps.push(plan.currentStep);
      dues.push(plan.nextDueAt);
    }
  }
  if (flowIds.length === 0) return [];
  return tx.$queryRaw<StartedRun[]>`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at, trace_id)
    SELECT x.flow_id, x.version_id, f.shop_id, x.contact_id, ${o.triggerType}, x.subject, x.triggered_at, x.step, x.due, ${o.traceId}
      FROM unnest(${flowIds}::uuid[], ${versionIds}::uuid[], ${contactIds}::uuid[], ${subjects}::text[], ${triggeredAts}::timestamptz[], ${steps}::int[], ${dues}::timestamptz[])
             AS x(flow_id, version_id, contact_id, subject, triggered_at, step, due)
      JOIN flows f ON f.id = x.flow_id AND f.shop_id = ${o.shopId}::uuid AND f.current_version_id = x.version_id
                  AND (NOT ${o.requireLive}::boolean OR f.status = 'live')
      JOIN contacts c ON c.id = x.contact_id AND c.shop_id = ${o.shopId}::uuid AND c.erased_at IS NULL
    ORDER BY x.flow_id, x.contact_id
    ON CONFLICT DO NOTHING
    RETURNING id::text, flow_id, contact_id, version_id, current_step, next_due_at`;
}
