import { sql, type Tx } from '../../lib/db';
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
  /** False when the run already existed and only its first due time moved (refreshDue). */
  inserted: boolean;
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
 *
 * `refreshDue` (abandoned checkouts): a run that exists for the same subject
 * and has not been claimed yet (attempt 0) gets the later first due time, so
 * a customer still updating the checkout is reminded only after being idle
 * for the flow's delay. Only the due time moves, never later than planned
 * now, and only while the run is untouched; such rows come back with
 * `inserted: false`.
 */
export async function startFlowRuns(
  tx: Tx,
  o: { shopId: string; triggerType: RunTriggerType; flows: LiveFlow[]; candidates: TriggerCandidate[]; shopTimezone: string; traceId: string | null; requireLive: boolean; refreshDue?: boolean },
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
      const plan = planStart(f.steps, c.baseAt, zones, o.shopTimezone);
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
  // A checkout run is never a "contact subscribed" one, so the one conflict it can meet is its subject's.
  const onConflict = o.refreshDue
    ? sql`ON CONFLICT (flow_id, contact_id, trigger_subject) DO UPDATE SET next_due_at = EXCLUDED.next_due_at, updated_at = now()
           WHERE flow_runs.status = 'active' AND flow_runs.attempt = 0 AND flow_runs.claim_token IS NULL
             AND flow_runs.version_id = EXCLUDED.version_id AND flow_runs.current_step = EXCLUDED.current_step
             AND flow_runs.next_due_at < EXCLUDED.next_due_at`
    : sql`ON CONFLICT DO NOTHING`;
  return tx.$queryRaw<StartedRun[]>`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at, trace_id)
    SELECT x.flow_id, x.version_id, f.shop_id, x.contact_id, ${o.triggerType}, x.subject, x.triggered_at, x.step, x.due, ${o.traceId}
      FROM unnest(${flowIds}::uuid[], ${versionIds}::uuid[], ${contactIds}::uuid[], ${subjects}::text[], ${triggeredAts}::timestamptz[], ${steps}::int[], ${dues}::timestamptz[])
             AS x(flow_id, version_id, contact_id, subject, triggered_at, step, due)
      JOIN flows f ON f.id = x.flow_id AND f.shop_id = ${o.shopId}::uuid AND f.current_version_id = x.version_id
                  AND (NOT ${o.requireLive}::boolean OR f.status = 'live')
      JOIN contacts c ON c.id = x.contact_id AND c.shop_id = ${o.shopId}::uuid AND c.erased_at IS NULL
    ORDER BY x.flow_id, x.contact_id
    ${onConflict}
    RETURNING (xmax = 0) AS inserted, id::text, flow_id, contact_id, version_id, current_step, next_due_at`;
}
