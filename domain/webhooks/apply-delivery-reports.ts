import { setLocal, withoutNestedLoops, type Db, type Tx } from '../../lib/db';
import { recipientIdFromReference } from '../campaigns/render-batch';
import { applyKeywordReplyReports, type KeywordReplyReport } from '../compliance/apply-keyword-reply-reports';
import { keywordReplyIdFromReference } from '../compliance/send-keyword-reply';
import { applyFlowMessageReports, type FlowMessageReport } from '../flows/apply-flow-message-reports';
import { flowMessageIdFromReference } from '../flows/flow-message-reference';
import { settleUnknownRecipients } from '../campaigns/settle-unknown';
import { recentCampaignSql } from './delivery-report-recipient';
import { REPORT_BATCH_TOPIC } from './split-report-batches';
import { DELIVERY_REPORT_PROVIDERS } from './types';

/** Delivery reports come from these providers, under this topic. */
const TERMINAL = new Set(['delivered', 'failed', 'skipped', 'cancelled']);

/** Marks a report the bulk path found not applicable yet: its own job takes it from there (with backoff). */
export const NOT_READY_MARK = 'WebhookNotReadyError: not applicable yet (left to its own job)';

/**
 * A report that beats its send's settle (the provider reports within a few
 * hundred ms of accepting the message; the settle of a 1 000-message batch
 * commits after the whole provider call) is not an error: under load most
 * reports of a batch can arrive first. For this long after it was stored
 * such a report waits for a later bulk pass (REPORT_RETRY_MS apart) instead
 * of a job of its own, which costs a Redis job, a transaction and a log of
 * its own per report.
 */
export const NOT_READY_GRACE_MS = 15_000;
/** Batch rows a pass takes: its single-row limit ÷ this (a batched callback carries up to 500 reports, 100 by default from the simulator). */
const REPORTS_PER_BATCH_ROW = 100;
/** How long a waiting report is skipped by bulk passes before it is tried again. */
export const REPORT_RETRY_MS = 250;

export interface DeliveryReportBulkResult {
  /** Reports taken by this pass: single rows (at most `limit`) and the reports of the batches taken. */
  claimed: number;
  /** The pass took as many rows as it could, or split rows out for the next: there may be more. */
  full: boolean;
  /** Recipient rows moved, by the status they moved to. */
  applied: { delivered: number; failed: number };
  /** Events closed, by outcome, per provider (for webhook_events_total). */
  outcomes: { provider: string; outcome: 'processed' | 'ignored'; n: number }[];
  /** Applied reports per provider and status (for sms_delivery_reports_total). */
  appliedByProvider: { provider: string; status: 'delivered' | 'failed'; n: number }[];
  /** Events no recipient can take yet, stored longer than NOT_READY_GRACE_MS ago (or malformed): ids, for a job of their own. */
  notReady: { id: string; traceId: string | null }[];
  /** Events no recipient can take yet, stored within the grace: left for a bulk pass REPORT_RETRY_MS later. */
  waiting: number;
  /** `unknown` recipients this pass settled, by the status they moved to (sms_unknown_resolved_total). */
  unknownResolved: { delivered: number; failed: number };
}

interface EventRow {
  id: string;
  provider: string;
  trace_id: string | null;
  /** Stored within NOT_READY_GRACE_MS. */
  young: boolean;
  received_at: Date;
  /** The batch row this report came in (a batched callback), or null for a row of its own. */
  batch: string | null;
  /** A batch's report: its place (1-based) in the batch's `reports`, to store it as a row of its own. */
  n: number | null;
  pmid: string | null;
  status: string | null;
  code: string | null;
  ref: string | null;
}

interface Report {
  id: string;
  provider: string;
  traceId: string | null;
  young: boolean;
  batch: string | null;
  n: number | null;
  pmid: string;
  status: 'delivered' | 'failed';
  code: string | null;
  /** The recipient id named by our reference, when it is one of ours. */
  recipientId: string | null;
}

/**
 * Applies up to `limit` stored delivery reports (`webhook_events` rows of an
 * SMS provider, topic `status`, still `received`) in ONE transaction, with the
 * effect and outcome of the per-event handler (handlers/sms-delivery-report.ts)
 * but a handful of statements per pass instead of two per report:
 *  - one guarded `sent → delivered|failed` UPDATE by our reference (the
 *    primary key; the row's provider id must match) and, for reports without
 *    our reference, one by provider id among recently active campaigns
 *    (delivery-report-recipient.ts); the earliest report of a message wins,
 *    as it does one by one (the status trigger refuses any move backwards);
 *  - for the rest of the referenced reports, one guarded `unknown →
 *    delivered|failed` UPDATE that charges the delivered ones once
 *    (campaigns/settle-unknown.ts);
 *  - every report whose message is final now (applied here, or earlier) is
 *    marked `processed` with its shop; a `delivered` report for an `unknown`
 *    row without billed segments is `ignored`;
 *  - a report no recipient can take yet is left `received`, marked so later
 *    passes skip it, and returned: the caller gives it its own
 *    `webhook.process.v1` job, which retries with backoff and drops it in the end.
 * Rows are taken FOR UPDATE SKIP LOCKED in arrival order, so concurrent passes
 * split the work. Reports the API validated are re-checked here; one that is
 * not a well-formed report is left to its own job, like a not-ready one.
 */
export async function applyDeliveryReports(db: Db, o: { limit: number }): Promise<DeliveryReportBulkResult> {
  const result: DeliveryReportBulkResult = { claimed: 0, full: false, applied: { delivered: 0, failed: 0 }, outcomes: [], appliedByProvider: [], notReady: [], waiting: 0, unknownResolved: { delivered: 0, failed: 0 } };
  return db.$transaction(async (tx) => {
    const singles = await tx.$queryRaw<EventRow[]>`
      SELECT id, provider, trace_id, received_at, received_at > now() - ${NOT_READY_GRACE_MS}::float8 * interval '1 millisecond' AS young,
             NULL::uuid AS batch, NULL::int AS n,
             payload->>'id' AS pmid, payload->>'status' AS status, payload->>'errorCode' AS code, payload->>'reference' AS ref
        FROM webhook_events
       WHERE status = 'received' AND topic = 'status' AND provider = ANY(${DELIVERY_REPORT_PROVIDERS}::text[]) AND last_error IS NULL
         AND (next_attempt_at IS NULL OR next_attempt_at <= now())
       ORDER BY received_at, id
       LIMIT ${o.limit}::int
         FOR UPDATE SKIP LOCKED`;
    // Batched callbacks (split-report-batches.ts): one row, many reports.
    const batchLimit = Math.max(1, Math.floor(o.limit / REPORTS_PER_BATCH_ROW));
    const batchRows = await tx.$queryRaw<Omit<EventRow, 'batch' | 'n' | 'pmid' | 'status' | 'code' | 'ref'>[]>`
      SELECT id, provider, trace_id, received_at, received_at > now() - ${NOT_READY_GRACE_MS}::float8 * interval '1 millisecond' AS young
        FROM webhook_events
       WHERE status = 'received' AND topic = ${REPORT_BATCH_TOPIC} AND provider = ANY(${DELIVERY_REPORT_PROVIDERS}::text[]) AND last_error IS NULL
         AND (next_attempt_at IS NULL OR next_attempt_at <= now())
       ORDER BY received_at, id
       LIMIT ${batchLimit}::int
         FOR UPDATE SKIP LOCKED`;
    const batchIds = batchRows.map((b) => b.id);
    // Per report only what applying it reads: the batch's own columns come
    // once per batch above, and the report itself (JSON) is read again only
    // for the few that go on as rows of their own (split, below).
    const reportsOf =
      batchIds.length === 0
        ? []
        : await tx.$queryRaw<{ batch: string; n: bigint; pmid: string | null; status: string | null; code: string | null; ref: string | null }[]>`
            SELECT w.id AS batch, e.n, e.r->>'id' AS pmid, e.r->>'status' AS status, e.r->>'errorCode' AS code, e.r->>'reference' AS ref
              FROM webhook_events w
             CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(w.payload->'reports') = 'array' THEN w.payload->'reports' ELSE '[]'::jsonb END)
                   WITH ORDINALITY AS e(r, n)
             WHERE w.id = ANY(${batchIds}::uuid[])
             ORDER BY w.received_at, w.id, e.n`;
    const batchById = new Map(batchRows.map((b) => [b.id, b]));
    // Fields by name, not an object spread: with a spread per report the worker spent ~20 s more CPU on a 1 M campaign (profiled).
    const batched = reportsOf.map((x): EventRow => {
      const b = batchById.get(x.batch) as (typeof batchRows)[number];
      return { id: b.id, provider: b.provider, trace_id: b.trace_id, received_at: b.received_at, young: b.young, batch: x.batch, n: Number(x.n), pmid: x.pmid, status: x.status, code: x.code, ref: x.ref };
    });
    // Arrival order across both (a stable sort keeps a batch's own order).
    const rows = [...singles, ...batched].sort((a, b) => a.received_at.getTime() - b.received_at.getTime());
    result.claimed = rows.length;
    result.full = singles.length === o.limit || batchIds.length === batchLimit;
    if (rows.length === 0 && batchIds.length === 0) return result;
    // A batch's reports that do not close here go on as rows of their own (below).
    const splitPlain: Report[] = [];
    const splitWaiting: Report[] = [];
    const splitLate: Report[] = [];

    const reports: Report[] = [];
    // Reports for keyword replies (`k<id>`) take their own path and never reach the campaign statements.
    const replyReports: (KeywordReplyReport & { provider: string })[] = [];
    // And flow messages (`f<id>`): their own table too.
    const flowReports: (FlowMessageReport & { provider: string; young: boolean; traceId: string | null; batched: Report | null })[] = [];
    for (const r of rows) {
      if (!r.pmid || (r.status !== 'delivered' && r.status !== 'failed')) {
        if (r.batch === null) result.notReady.push({ id: r.id, traceId: r.trace_id });
        continue;
      }
      const replyId = keywordReplyIdFromReference(r.ref);
      const flowMessageId = flowMessageIdFromReference(r.ref);
      if (replyId !== null && r.batch !== null) {
        // A keyword reply's report in a batch: as a row of its own, the next pass takes its path.
        splitPlain.push({ id: r.id, provider: r.provider, traceId: r.trace_id, young: r.young, batch: r.batch, n: r.n, pmid: r.pmid, status: r.status, code: null, recipientId: null });
        continue;
      }
      if (flowMessageId !== null) {
        // A flow message's report is applied here, batched or not (a row of its own per report cost a flow message
        // ~900 B of webhook_events and two more writes); one of a batch that must wait becomes a row of its own (below).
        const batched: Report | null =
          r.batch === null ? null : { id: r.id, provider: r.provider, traceId: r.trace_id, young: r.young, batch: r.batch, n: r.n, pmid: r.pmid, status: r.status, code: null, recipientId: null };
        flowReports.push({ eventId: r.batch === null ? r.id : null, batched, provider: r.provider, young: r.young, traceId: r.trace_id, messageId: flowMessageId, providerMessageId: r.pmid, status: r.status, errorCode: r.status === 'failed' ? (r.code ?? 'failed') : null });
        continue;
      }
      if (replyId !== null) {
        replyReports.push({ eventId: r.id, provider: r.provider, replyId, providerMessageId: r.pmid, status: r.status, errorCode: r.status === 'failed' ? (r.code ?? 'failed') : null });
        continue;
      }
      const rid = recipientIdFromReference(r.ref);
      reports.push({
        id: r.id,
        provider: r.provider,
        traceId: r.trace_id,
        young: r.young,
        batch: r.batch,
        n: r.n,
        pmid: r.pmid,
        status: r.status,
        code: r.status === 'failed' ? (r.code ?? 'failed') : null,
        recipientId: rid,
      });
    }

    // The earliest report of each message is the one applied.
    const winners = new Map<string, Report>();
    for (const r of reports) if (!winners.has(r.pmid)) winners.set(r.pmid, r);
    const w = [...winners.values()];
    const final = new Map<string, string>();
    // Every recipient statement below reads rows by primary key (or, for
    // reports without our reference, through a campaign's index).
    // A pass lost with a Postgres crash loses its reports' `processed` marks
    // with their effects, so they are applied again, which changes nothing
    // twice (statuses only move forward, charges are keyed). Only the
    // ingest's commit, which the provider's 200 answers for, must be
    // durable; the passes no longer queue their flushes with it.
    await setLocal(tx, { indexReadsOnly: true, asyncCommit: true });

    // By our reference, through the primary key: the row must carry this
    // provider id. `unknown` rows (which may not know it yet) are settled
    // below, where a delivered one is also charged.
    const byRef = w.filter((x) => x.recipientId !== null);
    if (byRef.length > 0) {
      // Hash joins for this statement only: the campaign-index paths below need their nested loops.
      const moved = await withoutNestedLoops(tx, () => tx.$queryRaw<{ pmid: string; shop_id: string }[]>`
        UPDATE campaign_recipients r
           SET status = u.status, final_at = now(), error_code = u.code, provider_message_id = u.pmid
          FROM unnest(${byRef.map((x) => x.recipientId)}::bigint[], ${byRef.map((x) => x.pmid)}::text[], ${byRef.map((x) => x.status)}::text[], ${byRef.map((x) => x.code)}::text[])
                 AS u(id, pmid, status, code),
               campaigns c
         -- The ids as an index condition too, whatever the statistics (settle-batch.ts).
         WHERE r.id = ANY(${byRef.map((x) => x.recipientId)}::bigint[]) AND r.id = u.id AND r.provider_message_id = u.pmid AND r.status = 'sent' AND c.id = r.campaign_id
        RETURNING u.pmid, c.shop_id`);
      for (const x of moved) final.set(x.pmid, x.shop_id);
      count(result, w, moved.map((x) => x.pmid));
    }

    // An `unknown` recipient (may have been sent, never re-sent, not charged)
    // that a report now settles: delivered is charged once, failed is free.
    const maybeUnknown = byRef.filter((x) => !final.has(x.pmid));
    if (maybeUnknown.length > 0) {
      const settled = await settleUnknownRecipients(tx, maybeUnknown.map((x) => ({ id: x.recipientId as string, status: x.status, providerMessageId: x.pmid, errorCode: x.code })));
      for (const m of settled.moved) {
        if (m.providerMessageId !== null) final.set(m.providerMessageId, m.shopId);
        if (m.status === 'delivered' || m.status === 'failed') result.unknownResolved[m.status] += 1;
      }
      count(result, w, settled.moved.flatMap((m) => (m.providerMessageId === null ? [] : [m.providerMessageId])));
    }

    // Without our reference: by provider id, among recently active campaigns.
    const unreferenced = w.filter((x) => x.recipientId === null);
    if (unreferenced.length > 0) {
      const moved = await tx.$queryRaw<{ pmid: string; shop_id: string }[]>`
        UPDATE campaign_recipients r
           SET status = u.status, final_at = now(), error_code = u.code
          FROM unnest(${unreferenced.map((x) => x.pmid)}::text[], ${unreferenced.map((x) => x.status)}::text[], ${unreferenced.map((x) => x.code)}::text[])
                 AS u(pmid, status, code),
               campaigns c
         WHERE r.provider_message_id = u.pmid AND ${recentCampaignSql('r')} AND r.status = 'sent' AND c.id = r.campaign_id
        RETURNING u.pmid, c.shop_id`;
      for (const x of moved) final.set(x.pmid, x.shop_id);
      count(result, w, [...new Set(moved.map((x) => x.pmid))]);
    }

    // Reports whose message did not move here: final already (a duplicate or
    // a late report), impossible, or not there yet.
    const rest = reports.filter((r) => !final.has(r.pmid));
    const state = new Map<string, { status: string; segments: number | null; shop_id: string }>();
    const gone = new Set<string>();
    const restRef = rest.filter((x) => x.recipientId !== null);
    const restUnref = rest.filter((x) => x.recipientId === null);
    if (restRef.length > 0) {
      type Ref = { pmid: string; rid: string; row_pmid: string | null; status: string | null; segments: number | null; shop_id: string | null };
      const refs = await tx.$queryRaw<Ref[]>`
        SELECT u.pmid, u.rid::text AS rid, x.provider_message_id AS row_pmid, x.status, x.segments, c.shop_id
          FROM unnest(${restRef.map((x) => x.pmid)}::text[], ${restRef.map((x) => x.recipientId)}::bigint[]) AS u(pmid, rid)
          LEFT JOIN campaign_recipients x ON x.id = u.rid
          LEFT JOIN campaigns c ON c.id = x.campaign_id`;
      for (const f of refs) {
        // Our reference names a row that is no more: its campaign's recipients were pruned past the retention
        // (campaigns/prune-campaign-recipients.ts), or the campaign or shop deleted. Nothing to apply, ever.
        if (f.status === null || f.shop_id === null) gone.add(f.rid);
        else if (f.row_pmid === null || f.row_pmid === f.pmid) state.set(f.pmid, { status: f.status, segments: f.segments, shop_id: f.shop_id });
      }
    }
    if (restUnref.length > 0) {
      const found = await tx.$queryRaw<{ pmid: string; status: string; segments: number | null; shop_id: string }[]>`
        SELECT DISTINCT ON (x.provider_message_id) x.provider_message_id AS pmid, x.status, x.segments, c.shop_id
          FROM campaign_recipients x JOIN campaigns c ON c.id = x.campaign_id
         WHERE x.provider_message_id = ANY(${restUnref.map((x) => x.pmid)}::text[]) AND ${recentCampaignSql('x')}
         ORDER BY x.provider_message_id, x.id`;
      for (const f of found) state.set(f.pmid, f);
    }

    const closeIds: string[] = [];
    const waiting: string[] = [];
    const closeOutcomes: string[] = [];
    const closeShops: (string | null)[] = [];
    const close = (r: Report, outcome: 'processed' | 'ignored', shopId: string | null): void => {
      // A batch's report has no row of its own: the batch row closes once for all.
      if (r.batch === null) {
        closeIds.push(r.id);
        closeOutcomes.push(outcome);
        closeShops.push(shopId);
      }
      addOne(result.outcomes, 'outcome', r.provider, outcome);
    };
    const replyOutcomes = await applyKeywordReplyReports(tx, replyReports);
    replyOutcomes.forEach((o, i) => addOne(result.outcomes, 'outcome', replyReports[i]!.provider, o.outcome));
    const flowOutcomes = await applyFlowMessageReports(tx, flowReports);
    flowOutcomes.forEach((o, i) => {
      const f = flowReports[i]!;
      // Beat its send's settle: waits like a campaign report that did (one of a batch, as a row of its own).
      if (o.outcome === 'not_ready') {
        if (f.batched) (f.young ? splitWaiting : splitLate).push(f.batched);
        else if (f.young) waiting.push(f.eventId as string);
        else result.notReady.push({ id: f.eventId as string, traceId: f.traceId });
        return;
      }
      addOne(result.outcomes, 'outcome', f.provider, o.outcome);
    });
    for (const r of reports) {
      const shop = final.get(r.pmid);
      if (shop !== undefined) {
        close(r, 'processed', shop);
        continue;
      }
      const s = state.get(r.pmid);
      if (s && TERMINAL.has(s.status)) close(r, 'processed', s.shop_id);
      else if (s?.status === 'unknown' && s.segments === null && r.status === 'delivered') close(r, 'ignored', s.shop_id);
      else if (!s && r.recipientId !== null && gone.has(String(r.recipientId))) close(r, 'ignored', null);
      else if (r.batch !== null) (r.young ? splitWaiting : splitLate).push(r);
      else if (r.young) waiting.push(r.id);
      else result.notReady.push({ id: r.id, traceId: r.traceId });
    }
    if (closeIds.length > 0) {
      await tx.$executeRaw`
        UPDATE webhook_events w
           SET status = u.outcome, processed_at = now(), attempts = w.attempts + 1, last_error = NULL, next_attempt_at = NULL,
               shop_id = COALESCE(w.shop_id, u.shop_id)
          FROM unnest(${closeIds}::uuid[], ${closeOutcomes}::text[], ${closeShops}::uuid[]) AS u(id, outcome, shop_id)
         WHERE w.id = u.id`;
    }
    if (batchIds.length > 0) {
      // Reports of a batch that go on as rows of their own: a keyword reply's
      // (the next pass takes its path) and late ones (marked for jobs of their
      // own); a report already stored on its own is not stored twice. The
      // waiting ones go on together (rebatchWaiting).
      const split = async (of: Report[], mark: string | null): Promise<{ id: string; trace_id: string | null }[]> =>
        of.length === 0
          ? []
          : tx.$queryRaw<{ id: string; trace_id: string | null }[]>`
              INSERT INTO webhook_events (provider, event_id, topic, payload, trace_id, last_error)
              SELECT w.provider, u.event_id, 'status', w.payload->'reports'->(u.n - 1), COALESCE(w.payload->'traceIds'->>(u.n - 1), w.trace_id), ${mark}::text
                FROM unnest(${of.map((x) => x.batch)}::uuid[], ${of.map((x) => x.n)}::int[], ${of.map((x) => `${x.pmid}:${x.status}`)}::text[]) AS u(batch, n, event_id)
                JOIN webhook_events w ON w.id = u.batch
              ON CONFLICT (provider, event_id) DO NOTHING
              RETURNING id, trace_id`;
      // A reply's report split out here is the next pass's: ask for one even when this one was not
      // full (else the last callback of a burst left its split rows to the next callback, or to the stuck-event sweep).
      if ((await split(splitPlain, null)).length > 0) result.full = true;
      result.waiting += await rebatchWaiting(tx, splitWaiting);
      for (const x of await split(splitLate, NOT_READY_MARK)) result.notReady.push({ id: x.id, traceId: x.trace_id });
      await tx.$executeRaw`
        UPDATE webhook_events SET status = 'processed', processed_at = now(), attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL
         WHERE id = ANY(${batchIds}::uuid[])`;
    }
    result.waiting += waiting.length;
    if (waiting.length > 0) {
      await tx.$executeRaw`
        UPDATE webhook_events SET next_attempt_at = now() + ${REPORT_RETRY_MS}::float8 * interval '1 millisecond'
         WHERE id = ANY(${waiting}::uuid[])`;
    }
    if (result.notReady.length > 0) {
      await tx.$executeRaw`
        UPDATE webhook_events SET last_error = ${NOT_READY_MARK}
         WHERE id = ANY(${result.notReady.map((x) => x.id)}::uuid[])`;
    }
    return result;
  });
}

/**
 * The reports of a batch that beat their sends' settles wait for a later pass
 * together: one new batch row per batch they came in, holding just them, with
 * the batch's arrival time (the grace counts from the callback) and trace,
 * skipped by passes until REPORT_RETRY_MS from now. Under load a few per cent
 * of a send's reports come before its settle commits; as a row each they cost
 * an insert with three index entries, a read and a non-HOT update per report
 * (7 200 rows, ~1.3 s of statement time in one 100 000-recipient send). The
 * batch they came from closes in the same transaction, so no report is stored
 * twice. Returns the reports that wait.
 */
async function rebatchWaiting(tx: Tx, waiting: Report[]): Promise<number> {
  if (waiting.length === 0) return 0;
  await tx.$executeRaw`
    INSERT INTO webhook_events (provider, event_id, topic, payload, trace_id, received_at, next_attempt_at)
    SELECT w.provider, 'waiting:' || gen_random_uuid()::text, ${REPORT_BATCH_TOPIC},
           -- A group of single reports keeps each one's request id (store-delivery-report.ts).
           CASE WHEN w.payload ? 'traceIds'
                THEN jsonb_build_object('reports', jsonb_agg(w.payload->'reports'->(u.n - 1) ORDER BY u.n), 'traceIds', jsonb_agg(w.payload->'traceIds'->(u.n - 1) ORDER BY u.n))
                ELSE jsonb_build_object('reports', jsonb_agg(w.payload->'reports'->(u.n - 1) ORDER BY u.n)) END,
           w.trace_id, w.received_at,
           now() + ${REPORT_RETRY_MS}::float8 * interval '1 millisecond'
      FROM unnest(${waiting.map((x) => x.batch)}::uuid[], ${waiting.map((x) => x.n)}::int[]) AS u(batch, n)
      JOIN webhook_events w ON w.id = u.batch
     GROUP BY w.id, w.provider, w.trace_id, w.received_at`;
  return waiting.length;
}

function count(result: DeliveryReportBulkResult, winners: Report[], movedPmids: string[]): void {
  if (movedPmids.length === 0) return;
  const moved = new Set(movedPmids);
  for (const r of winners) {
    if (!moved.has(r.pmid)) continue;
    result.applied[r.status] += 1;
    addOne(result.appliedByProvider, 'status', r.provider, r.status);
  }
}

// The tallies have an entry per provider and outcome, a handful at most:
// found by a scan, not by a string key built for every report (which was a
// Map lookup and a string per report in the worker's busiest pass).
type Tally<K extends string, V extends string> = { provider: string; n: number } & { [P in K]: V };

function addOne<K extends 'outcome' | 'status', V extends string>(list: Tally<K, V>[], key: K, provider: string, value: V): void {
  for (const x of list) {
    if (x.provider === provider && x[key] === value) {
      x.n += 1;
      return;
    }
  }
  list.push({ provider, n: 1, [key]: value } as Tally<K, V>);
}

/**
 * When a bulk pass fails as a whole (one malformed or conflicting report would
 * otherwise fail every pass after it), the reports it would have taken are
 * marked so bulk passes skip them and returned for jobs of their own: one by
 * one, the bad report fails alone and the rest apply.
 */
export async function handOffDeliveryReports(db: Db, o: { limit: number; reason: string }): Promise<{ id: string; traceId: string | null }[]> {
  const rows = await db.$queryRaw<{ id: string; trace_id: string | null }[]>`
    UPDATE webhook_events SET last_error = ${o.reason.slice(0, 200)}
     WHERE id IN (SELECT id FROM webhook_events
                   WHERE status = 'received' AND topic = 'status' AND provider = ANY(${DELIVERY_REPORT_PROVIDERS}::text[]) AND last_error IS NULL
                   ORDER BY received_at, id
                   LIMIT ${o.limit}::int
                     FOR UPDATE SKIP LOCKED)
    RETURNING id, trace_id`;
  return rows.map((r) => ({ id: r.id, traceId: r.trace_id }));
}
