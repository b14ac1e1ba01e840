import { Batcher, batcherPer } from '../../lib/batcher';
import type { Db } from '../../lib/db';
import { enqueueDeliveryReportsJob } from './enqueue-delivery-reports-job';
import type { IngestDeps } from './ingest-event';
import { describeError } from './mark-event';
import { deliveryReportEventId, type DeliveryReport } from './sms-payloads';
import { REPORT_BATCH_TOPIC } from './split-report-batches';
import type { WebhookProvider } from './types';

export interface PendingReport {
  provider: WebhookProvider;
  eventId: string;
  report: DeliveryReport;
  traceId: string | null;
}

/**
 * The receiving half of a delivery report sent on its own (one report per
 * request, as Mitto posts them), after its signature was verified. The
 * reports of concurrent requests share one statement (and one commit):
 *  - each report's dedup key `<id>:<status>` goes into delivery_report_keys
 *    (insert-only, a narrow primary key), which decides new vs duplicate;
 *  - the new ones are stored as ONE webhook_events row per provider (topic
 *    `status-batch`, event id `group:<uuid>`), the shape of a batched
 *    callback, with each report's request id alongside (`traceIds`), so the
 *    delivery-report drain applies them in bulk like a batched callback's.
 * A row (its index entries, its update to `processed`) per report was most of
 * a report's Postgres cost. Returns true for a new report, false for a
 * duplicate; the caller hears back only once its report is committed.
 */
export async function storeDeliveryReport(
  deps: IngestDeps & { now: () => Date },
  provider: WebhookProvider,
  report: DeliveryReport,
  traceId: string | undefined,
): Promise<boolean> {
  const fresh = await reportBatcher(deps.db).submit({ provider, eventId: deliveryReportEventId(report), report, traceId: traceId ?? null });
  deps.metrics.webhookEvents.inc({ source: provider, outcome: fresh ? 'received' : 'duplicate' });
  if (!fresh) return false;
  // Not awaited, as for a batched callback (ingest-delivery-reports.ts): one
  // Redis round trip per 100 ms slot at most, and a failed add leaves the
  // report to the next slot's drain or to reconciliation.
  enqueueDeliveryReportsJob(deps.producer, deps.now().getTime()).catch((err: unknown) =>
    deps.logger.warn({ provider, err: { message: describeError(err) } }, 'delivery report stored but its drain job could not be enqueued; reconciliation will requeue it'),
  );
  return true;
}

// One statement at a time, up to 500 reports each: the requests that arrive
// while one runs go together in the next. Two at a time made groups half as
// large and cost ~40 % more Postgres CPU per report for no lower latency
// (measured: docs/performance.md). A statement that fails is tried again one
// report at a time (a report stored twice is a duplicate).
const reportBatcher = batcherPer(
  (db: Db) => new Batcher((items: PendingReport[]) => storeDeliveryReports(db, items), { maxBatch: 500, concurrency: 1, isolateFailures: true }),
);

/** One statement for several reports: per report, in order, true when new. */
export async function storeDeliveryReports(db: Db, items: PendingReport[]): Promise<boolean[]> {
  // The same report twice in one statement: the later one is its duplicate.
  const seen = new Set<string>();
  const firsts: PendingReport[] = [];
  const isFirst = items.map((i) => {
    const key = `${i.provider}\u0000${i.eventId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    firsts.push(i);
    return true;
  });
  // Reports were validated as storable text (sms-payloads.ts): no NUL or lone surrogate reaches jsonb.
  const stored = await insertGroup(db, firsts);
  return items.map((i, n) => isFirst[n] === true && stored.has(`${i.provider}\u0000${i.eventId}`));
}

async function insertGroup(db: Db, items: PendingReport[]): Promise<Set<string>> {
  const stored = new Set<string>();
  // One provider a statement (a flush almost always holds one).
  for (const provider of new Set(items.map((i) => i.provider))) {
    const of = items.filter((i) => i.provider === provider);
    // The group's payload built here: when every report is new (all but
    // always), Postgres stores it as sent instead of taking the JSON apart
    // and aggregating it again (jsonb_agg was a third of the statement).
    const payload = JSON.stringify({ reports: of.map((i) => i.report), traceIds: of.map((i) => i.traceId) });
    // Data-modifying CTEs run once each, whatever the final SELECT reads.
    const rows = await db.$queryRaw<{ event_id: string }[]>`
      WITH k AS (
        INSERT INTO delivery_report_keys (provider, event_id)
        SELECT ${provider}::text, e FROM unnest(${of.map((i) => i.eventId)}::text[]) AS e
        ON CONFLICT DO NOTHING
        RETURNING event_id
      ), n AS (
        SELECT count(*) AS fresh FROM k
      ), g AS (
        INSERT INTO webhook_events (provider, event_id, topic, payload, trace_id)
        SELECT ${provider}::text, 'group:' || gen_random_uuid()::text, ${REPORT_BATCH_TOPIC},
               CASE WHEN n.fresh = ${of.length}::int THEN ${payload}::jsonb
                    -- Some were duplicates: only the new ones, in order, each with its request id.
                    ELSE (SELECT jsonb_build_object('reports', jsonb_agg(r.report ORDER BY r.ord), 'traceIds', jsonb_agg(r.trace_id ORDER BY r.ord))
                            FROM ROWS FROM (jsonb_array_elements(${payload}::jsonb->'reports'), jsonb_array_elements(${payload}::jsonb->'traceIds'),
                                            unnest(${of.map((i) => i.eventId)}::text[])) WITH ORDINALITY AS r(report, trace_id, event_id, ord)
                           WHERE r.event_id IN (SELECT event_id FROM k)) END,
               CASE WHEN n.fresh = ${of.length}::int THEN ${of[0]?.traceId ?? null}::text
                    ELSE (SELECT r.t FROM ROWS FROM (unnest(${of.map((i) => i.traceId)}::text[]), unnest(${of.map((i) => i.eventId)}::text[])) WITH ORDINALITY AS r(t, event_id, ord)
                           WHERE r.event_id IN (SELECT event_id FROM k) ORDER BY r.ord LIMIT 1) END
          FROM n WHERE n.fresh > 0
      )
      SELECT event_id FROM k`;
    for (const r of rows) stored.add(`${provider}\u0000${r.event_id}`);
  }
  return stored;
}
