import { sql, type Db } from '../../lib/db';
import { purchaseSql } from '../orders/purchase-sql';
import { DEFAULT_ABANDONED_DELAY_MINUTES, type TriggerType } from './flow-input';
import { loadLiveFlows, lockLiveFlow } from './load-live-flows';
import { startFlowRuns, type StartedRun, type TriggerCandidate } from './start-flow-runs';

/** What a flows.trigger.v1 job carries (queue/payloads.ts). */
export type FlowTriggerEvent = (
  | { kind: 'contact_subscribed'; shopId: string; recordIds: string[] }
  | { kind: 'checkout_abandoned'; shopId: string; token: string }
  | { kind: 'order_created'; shopId: string; orderId: string }
) & {
  /** The flows live on the trigger when the fact was recorded, by live period (absent in events older than it). */
  live?: Record<string, number>;
};

export interface FlowTriggerOutcome {
  flows: number;
  candidates: number;
  started: StartedRun[];
  /** Abandoned-checkout runs not yet begun whose first step moved later (the checkout was updated). */
  rescheduled?: number;
}

type CandidateRow = { contact_id: string; subject: string; triggered_at: Date; base_at: Date; phone_e164: string | null; timezone: string | null };

/**
 * The flows.trigger.v1 job: reads what the event names, keeps what may start
 * a run NOW (the contact still subscribed and not erased; a checkout still not
 * completed and not followed by a purchase of the contact; an order that is a
 * purchase, not cancelled by now nor a test order), and starts one run
 * per live flow on the trigger and candidate. Idempotent: a replay finds the
 * runs already there (unique keys) and starts none.
 *
 * A flow takes part only if it was live, in the same live period, when the
 * fact was recorded (`live`): one paused, or created, and activated after the
 * fact starts nothing for it. Each flow is read again, locked against edits,
 * in the transaction that starts its runs, so an edit committed since the
 * first read starts them on the version it wrote instead of losing them.
 */
export async function runFlowTrigger(db: Db, e: FlowTriggerEvent, o: { traceId: string | null; now: Date }): Promise<FlowTriggerOutcome> {
  const trigger: TriggerType = e.kind;
  const flows = await loadLiveFlows(db, e.shopId, trigger);
  if (flows.length === 0) return { flows: 0, candidates: 0, started: [] };
  const [shop] = await db.$queryRaw<{ timezone: string }[]>`SELECT timezone FROM shops WHERE id = ${e.shopId}::uuid`;
  if (!shop) return { flows: flows.length, candidates: 0, started: [] };

  let rows: CandidateRow[];
  if (e.kind === 'contact_subscribed') {
    rows = await db.$queryRaw<CandidateRow[]>`
      SELECT r.contact_id, r.id::text AS subject, r.collected_at AS triggered_at, ${o.now}::timestamptz AS base_at, c.phone_e164, c.timezone
        FROM contact_consent_records r JOIN contacts c ON c.id = r.contact_id
       WHERE r.shop_id = ${e.shopId}::uuid AND r.id = ANY(${e.recordIds}::bigint[]) AND r.state = 'subscribed'
         AND NOT (r.source = 'shopify' AND r.evidence ? 'syncId')
         AND c.sms_consent = 'subscribed' AND c.erased_at IS NULL
       ORDER BY r.id`;
  } else if (e.kind === 'checkout_abandoned') {
    // Each flow may set its own delay; the run's base is the checkout's last update + that delay (below).
    // A purchase since the checkout was first seen (or since its last update, for a checkout first seen late) completed it;
    // a test order or a cancelled one did not (purchase-sql.ts).
    rows = await db.$queryRaw<CandidateRow[]>`
      SELECT k.contact_id, k.token AS subject, k.shopify_updated_at AS triggered_at, k.shopify_updated_at AS base_at, c.phone_e164, c.timezone
        FROM shopify_checkouts k JOIN contacts c ON c.id = k.contact_id
       WHERE k.shop_id = ${e.shopId}::uuid AND k.token = ${e.token} AND k.completed_at IS NULL
         AND c.sms_consent = 'subscribed' AND c.erased_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM shopify_orders o
                          WHERE o.shop_id = k.shop_id AND o.contact_id = k.contact_id
                            AND o.ordered_at >= LEAST(k.created_at, k.shopify_updated_at) AND ${purchaseSql(sql`o`)})`;
  } else {
    rows = await db.$queryRaw<CandidateRow[]>`
      SELECT o.contact_id, o.order_id AS subject, o.ordered_at AS triggered_at, ${o.now}::timestamptz AS base_at, c.phone_e164, c.timezone
        FROM shopify_orders o JOIN contacts c ON c.id = o.contact_id
       WHERE o.shop_id = ${e.shopId}::uuid AND o.order_id = ${e.orderId} AND ${purchaseSql(sql`o`)}
         AND c.sms_consent = 'subscribed' AND c.erased_at IS NULL`;
  }
  const candidates: TriggerCandidate[] = rows.map((r) => ({
    contactId: r.contact_id,
    subject: r.subject,
    triggeredAt: r.triggered_at,
    baseAt: r.base_at,
    phone: r.phone_e164,
    timezone: r.timezone,
  }));
  if (candidates.length === 0) return { flows: flows.length, candidates: 0, started: [] };

  const started: StartedRun[] = [];
  let rescheduled = 0;
  // Per flow, since an abandoned-checkout flow's delay is its own; one transaction each (a shop has a handful).
  for (const { id } of flows) {
    if (e.live !== undefined && e.live[id] === undefined) continue;
    const runs = await db.$transaction(async (tx) => {
      const f = await lockLiveFlow(tx, e.shopId, id, trigger);
      if (!f || (e.live !== undefined && e.live[id] !== f.liveGeneration)) return [];
      const delayMs = e.kind === 'checkout_abandoned' ? Number(f.triggerConfig.delayMinutes ?? DEFAULT_ABANDONED_DELAY_MINUTES) * 60_000 : 0;
      const shifted = delayMs === 0 ? candidates : candidates.map((c) => ({ ...c, baseAt: new Date(Math.max(c.baseAt.getTime() + delayMs, o.now.getTime())) }));
      return startFlowRuns(tx, { shopId: e.shopId, triggerType: trigger, flows: [f], candidates: shifted, shopTimezone: shop.timezone, traceId: o.traceId, requireLive: true, refreshDue: e.kind === 'checkout_abandoned' });
    });
    started.push(...runs.filter((r) => r.inserted));
    rescheduled += runs.length - runs.filter((r) => r.inserted).length;
  }
  return { flows: flows.length, candidates: candidates.length, started, rescheduled };
}
