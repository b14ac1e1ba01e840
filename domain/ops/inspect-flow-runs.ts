import type { DbOrTx } from '../../lib/db';
import { phoneHash } from '../contacts/phone';

/** At most this many runs are listed per contact, newest first. */
export const CONTACT_RUNS_LIMIT = 50;

export interface ContactFlowRun {
  runId: string;
  flowId: string;
  flow: string;
  flowStatus: string;
  version: number;
  trigger: string;
  status: string;
  exitReason: string | null;
  /** "<index>/<steps> <type>" of the next step (the index past the last one once completed). */
  step: string;
  dueAt: Date | null;
  /** The claim's lease when a step is being executed (or a dead worker's, past its end). */
  leaseUntil: Date | null;
  attempt: number;
  /** The step's message, when the step is a send that has one: its status (and skip reason), or `in flight f<id>` for a batched send's mark (written at its settle). */
  message: string | null;
  triggeredAt: Date;
  endedAt: Date | null;
}

export interface ContactRunsInspection {
  contacts: { id: string; shopId: string; smsConsent: string; erased: boolean }[];
  runs: (ContactFlowRun & { contactId: string })[];
}

/**
 * A contact's flow runs for on-call (read-only): by contact id, or by phone
 * number (E.164: every shop's contact with it, or one shop's, found by its
 * phone hash; the number is neither stored nor printed). No message text.
 */
export async function inspectContactFlowRuns(db: DbOrTx, o: { contactId?: string; phoneE164?: string; shopId?: string }): Promise<ContactRunsInspection> {
  type ContactRow = { id: string; shop_id: string; sms_consent: string; erased: boolean };
  const hash = o.phoneE164 ? phoneHash(o.phoneE164) : null;
  const contacts = hash
    ? // The number's contacts are keyed (shop_id, phone_hash): one probe per shop (or the one shop given), never a scan of every contact.
      await db.$queryRaw<ContactRow[]>`
        SELECT c.id, c.shop_id, c.sms_consent, c.erased_at IS NOT NULL AS erased
          FROM shops s CROSS JOIN LATERAL (SELECT * FROM contacts c WHERE c.shop_id = s.id AND c.phone_hash = ${hash}) c
         WHERE ${o.shopId ?? null}::uuid IS NULL OR s.id = ${o.shopId ?? null}::uuid
         LIMIT 20`
    : await db.$queryRaw<ContactRow[]>`
        SELECT id, shop_id, sms_consent, erased_at IS NOT NULL AS erased FROM contacts WHERE id = ${o.contactId ?? null}::uuid`;
  if (contacts.length === 0) return { contacts: [], runs: [] };
  const rows = await db.$queryRaw<{
    id: string; contact_id: string; flow_id: string; name: string; flow_status: string; version: number; trigger_type: string; status: string;
    exit_reason: string | null; current_step: number; step_count: number; step_type: string | null; next_due_at: Date | null; lease_until: Date | null;
    attempt: number; message_status: string | null; skip_reason: string | null; mark: string | null; triggered_at: Date; ended_at: Date | null;
  }[]>`
    SELECT r.id::text, r.contact_id, r.flow_id, f.name, f.status AS flow_status, v.version, r.trigger_type, r.status, r.exit_reason,
           r.current_step, jsonb_array_length(v.steps)::int AS step_count, v.steps -> r.current_step ->> 'type' AS step_type,
           r.next_due_at, r.lease_until, r.attempt, m.status AS message_status, m.skip_reason, r.sending_message_id::text AS mark, r.triggered_at, r.ended_at
      FROM flow_runs r
      JOIN flows f ON f.id = r.flow_id
      JOIN flow_versions v ON v.id = r.version_id
      LEFT JOIN flow_messages m ON m.run_id = r.id AND m.step = r.current_step
     WHERE r.contact_id = ANY(${contacts.map((c) => c.id)}::uuid[])
     ORDER BY r.id DESC
     LIMIT ${CONTACT_RUNS_LIMIT}`;
  return {
    contacts: contacts.map((c) => ({ id: c.id, shopId: c.shop_id, smsConsent: c.sms_consent, erased: c.erased })),
    runs: rows.map((r) => ({
      runId: r.id,
      contactId: r.contact_id,
      flowId: r.flow_id,
      flow: r.name,
      flowStatus: r.flow_status,
      version: r.version,
      trigger: r.trigger_type,
      status: r.status,
      exitReason: r.exit_reason,
      step: `${r.current_step}/${r.step_count}${r.step_type ? ` ${r.step_type}` : ''}`,
      dueAt: r.next_due_at,
      leaseUntil: r.lease_until,
      attempt: r.attempt,
      message: r.message_status ? `${r.message_status}${r.skip_reason ? ` (${r.skip_reason})` : ''}` : r.mark ? `in flight f${r.mark}` : null,
      triggeredAt: r.triggered_at,
      endedAt: r.ended_at,
    })),
  };
}

export interface BacklogRow {
  flowId: string;
  shopId: string;
  flow: string;
  flowStatus: string;
  step: number;
  stepType: string | null;
  /** Active runs at this step due by now. */
  due: number;
  /** Of them, held by a live claim (a step job is executing them). */
  claimed: number;
  /** Of them, claimed by a lease that has ended (a worker died; the next tick re-claims them on a live flow). */
  expiredClaims: number;
  oldestDueAt: Date | null;
  /** Active runs at this step not due yet (waiting), and when the next one is. */
  waiting: number;
  nextDueAt: Date | null;
}

/** Flows listed at most by flow:backlog without a flow id (those with the oldest due run first). */
export const BACKLOG_FLOWS_LIMIT = 50;

/**
 * The due backlog by flow and step (read-only). One flow: every step with
 * active runs, due and waiting, on flow_runs_flow_stats_idx. All flows: the
 * flows with runs due now (live or not: a paused flow's runs are held, and
 * shown as such), oldest due first, from the due index and, for the runs the
 * scheduler has held out of it, flow_runs_held_idx (one partial index each).
 */
export async function flowBacklog(db: DbOrTx, o: { now: Date; flowId?: string }): Promise<BacklogRow[]> {
  const rows = o.flowId
    ? await db.$queryRaw<BacklogSqlRow[]>`
        SELECT f.id AS flow_id, f.shop_id, f.name, f.status AS flow_status, r.current_step AS step,
               count(*) FILTER (WHERE r.next_due_at <= ${o.now}) AS due,
               count(*) FILTER (WHERE r.next_due_at <= ${o.now} AND r.lease_until >= ${o.now}) AS claimed,
               count(*) FILTER (WHERE r.next_due_at <= ${o.now} AND r.lease_until < ${o.now}) AS expired_claims,
               min(r.next_due_at) FILTER (WHERE r.next_due_at <= ${o.now}) AS oldest_due_at,
               count(*) FILTER (WHERE r.next_due_at > ${o.now}) AS waiting,
               min(r.next_due_at) FILTER (WHERE r.next_due_at > ${o.now}) AS next_due_at
          FROM flows f JOIN flow_runs r ON r.flow_id = f.id AND r.status = 'active'
         WHERE f.id = ${o.flowId}::uuid
         GROUP BY f.id, r.current_step
         ORDER BY r.current_step`
    : await db.$queryRaw<BacklogSqlRow[]>`
        WITH due AS (
          SELECT r.flow_id, r.current_step, count(*) AS due,
                 count(*) FILTER (WHERE r.lease_until >= ${o.now}) AS claimed,
                 count(*) FILTER (WHERE r.lease_until < ${o.now}) AS expired_claims,
                 min(r.next_due_at) AS oldest_due_at
            FROM (SELECT flow_id, current_step, lease_until, next_due_at FROM flow_runs
                   WHERE status = 'active' AND NOT held AND next_due_at <= ${o.now}
                  UNION ALL
                  SELECT flow_id, current_step, lease_until, next_due_at FROM flow_runs
                   WHERE status = 'active' AND held AND next_due_at <= ${o.now}) r
           GROUP BY r.flow_id, r.current_step),
        top AS (
          SELECT flow_id FROM due GROUP BY flow_id ORDER BY min(oldest_due_at) LIMIT ${BACKLOG_FLOWS_LIMIT})
        SELECT f.id AS flow_id, f.shop_id, f.name, f.status AS flow_status, d.current_step AS step, d.due, d.claimed, d.expired_claims,
               d.oldest_due_at, NULL::bigint AS waiting, NULL::timestamptz AS next_due_at
          FROM due d JOIN top USING (flow_id) JOIN flows f ON f.id = d.flow_id
         ORDER BY d.oldest_due_at, d.current_step`;
  const stepTypes = await stepTypesOf(db, [...new Set(rows.map((r) => r.flow_id))]);
  return rows.map((r) => ({
    flowId: r.flow_id,
    shopId: r.shop_id,
    flow: r.name,
    flowStatus: r.flow_status,
    step: r.step,
    stepType: stepTypes.get(`${r.flow_id}:${r.step}`) ?? null,
    due: Number(r.due),
    claimed: Number(r.claimed),
    expiredClaims: Number(r.expired_claims),
    oldestDueAt: r.oldest_due_at,
    waiting: Number(r.waiting ?? 0),
    nextDueAt: r.next_due_at,
  }));
}

type BacklogSqlRow = {
  flow_id: string; shop_id: string; name: string; flow_status: string; step: number; due: bigint; claimed: bigint; expired_claims: bigint;
  oldest_due_at: Date | null; waiting: bigint | null; next_due_at: Date | null;
};

/** The step types of each flow's current version (runs of older versions may differ: the step index is theirs). */
async function stepTypesOf(db: DbOrTx, flowIds: string[]): Promise<Map<string, string>> {
  if (flowIds.length === 0) return new Map();
  const rows = await db.$queryRaw<{ flow_id: string; idx: number; type: string }[]>`
    SELECT f.id AS flow_id, (s.ord - 1)::int AS idx, s.step ->> 'type' AS type
      FROM flows f JOIN flow_versions v ON v.id = f.current_version_id
      CROSS JOIN LATERAL jsonb_array_elements(v.steps) WITH ORDINALITY AS s(step, ord)
     WHERE f.id = ANY(${flowIds}::uuid[])`;
  return new Map(rows.map((r) => [`${r.flow_id}:${r.idx}`, r.type]));
}
