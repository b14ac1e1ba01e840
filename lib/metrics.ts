import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// The metric catalogue of design.md. One registry per process; label values
// are bounded (route templates, enum-like outcomes), never ids or phones.

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named *_total break Prometheus naming rules (promtool rejects them);
  // the same values are exposed per type as nodejs_active_{handles,requests,resources}.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  const r = [registry];

  return {
    registry,
    httpRequests: new Counter({ name: 'http_requests_total', help: 'HTTP requests by route template and status', labelNames: ['method', 'route', 'status'] as const, registers: r }),
    // 0.075, 0.15 and 0.2: a p99 inside one 100–250 ms bucket was
    // interpolated across it (232 ms for a bench run whose slowest second's p99 was 149 ms).
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5], registers: r,
    }),
    campaignsEnqueued: new Counter({ name: 'campaigns_enqueued_total', help: 'Campaign enqueue attempts by outcome', labelNames: ['outcome'] as const, registers: r }),
    smsMessages: new Counter({ name: 'sms_messages_total', help: 'Messages by provider and resulting status', labelNames: ['provider', 'status'] as const, registers: r }),
    smsSegments: new Counter({ name: 'sms_segments_total', help: 'Segments sent (and debited)', registers: r }),
    providerDuration: new Histogram({
      name: 'sms_provider_request_duration_seconds', help: 'Provider request latency', labelNames: ['provider', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: r,
    }),
    smsUnknownOutcomes: new Counter({ name: 'sms_unknown_outcomes_total', help: 'Recipients recorded unknown (the provider may have sent them; never re-sent)', labelNames: ['provider'] as const, registers: r }),
    smsSkipped: new Counter({ name: 'sms_recipients_skipped_total', help: 'Campaign recipients skipped at send time, by reason (not_sendable, frequency_cap, quiet_hours, insufficient_credits)', labelNames: ['reason'] as const, registers: r }),
    recipientsDeferred: new Gauge({ name: 'campaign_recipients_deferred', help: 'Campaign recipients waiting for their quiet hours to end (as of their batch\'s last attempt)', registers: r }),
    smsThrottleWait: new Histogram({
      name: 'sms_provider_throttle_wait_seconds', help: 'Wait for SMS_PROVIDER_MPS (segments/s, shared by all workers) before a provider call, by outcome (sent, gave_up)',
      labelNames: ['outcome'] as const, buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r,
    }),
    keywordReplies: new Counter({
      name: 'sms_keyword_replies_total', help: 'Keyword replies (STOP/START/HELP confirmations, never charged to credits) by keyword and outcome (sent, failed, suppressed, unknown)',
      labelNames: ['keyword', 'outcome'] as const, registers: r,
    }),
    flowDueLag: new Histogram({
      name: 'flow_due_run_lag_seconds', help: 'How late a claim of due flow runs is: now − the oldest claimed next_due_at',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600], registers: r,
    }),
    flowSteps: new Counter({ name: 'flow_steps_total', help: 'Flow run steps executed, by outcome (advanced, completed, exited, held, lost)', labelNames: ['outcome'] as const, registers: r }),
    flowMessages: new Counter({
      name: 'flow_messages_total', help: 'Flow send steps by outcome (sent, failed, unknown, skipped, deferred) and reason (frequency_cap, not_sendable, suppressed, quiet_hours, insufficient_credits, …; none for sent)',
      labelNames: ['outcome', 'reason'] as const, registers: r,
    }),
    flowCredits: new Counter({ name: 'flow_credits_debited_total', help: 'Credits debited for flow messages', registers: r }),
    flowDueRuns: new Gauge({ name: 'flow_due_runs', help: 'Active runs of live flows due by now (claimed or not): the flow backlog, read at scrape', registers: r }),
    flowDueOldestAge: new Gauge({
      name: 'flow_due_runs_oldest_age_seconds', help: 'now − the oldest next_due_at among active runs of live flows due by now (0 when none), read at scrape', registers: r,
    }),
    flowRunsStarted: new Counter({ name: 'flow_runs_started_total', help: 'Flow runs started, by trigger (contact_subscribed, checkout_abandoned, order_created, manual)', labelNames: ['trigger'] as const, registers: r }),
    keywordReplySegments: new Counter({ name: 'sms_keyword_reply_segments_total', help: 'Segments sent as keyword replies (counted apart from campaign credits)', registers: r }),
    smsUnknownResolved: new Counter({ name: 'sms_unknown_resolved_total', help: 'Unknown recipients settled later, by how and as what', labelNames: ['via', 'status'] as const, registers: r }),
    deliveryReports: new Counter({ name: 'sms_delivery_reports_total', help: 'Delivery reports applied by provider and status', labelNames: ['provider', 'status'] as const, registers: r }),
    webhookEvents: new Counter({ name: 'webhook_events_total', help: 'Webhook events by source and outcome', labelNames: ['source', 'outcome'] as const, registers: r }),
    idempotencyRequests: new Counter({ name: 'idempotency_requests_total', help: 'Idempotent requests by outcome', labelNames: ['outcome'] as const, registers: r }),
    rateLimitHits: new Counter({ name: 'rate_limit_hits_total', help: 'Requests refused (or let through on limiter failure) by limiter', labelNames: ['limiter'] as const, registers: r }),
    queueJobs: new Gauge({ name: 'queue_jobs', help: 'Jobs per queue and state, read at scrape', labelNames: ['queue', 'state'] as const, registers: r }),
    jobDuration: new Histogram({
      name: 'job_duration_seconds', help: 'Job processing time', labelNames: ['queue', 'job', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r,
    }),
    jobFailures: new Counter({ name: 'job_failures_total', help: 'Job attempts that failed', labelNames: ['queue', 'job'] as const, registers: r }),
    workerFetchRestarts: new Counter({ name: 'worker_fetch_restarts_total', help: 'Queue workers replaced because their fetch of the next job was stuck', labelNames: ['queue'] as const, registers: r }),
    campaignsStuck: new Gauge({ name: 'campaigns_stuck', help: 'Active campaigns with no activity for STUCK_AFTER_MS', registers: r }),
    reconciliationRepairs: new Counter({ name: 'reconciliation_repairs_total', help: 'Repairs made by reconciliation, by kind', labelNames: ['kind'] as const, registers: r }),
    reconciliationRuns: new Counter({ name: 'reconciliation_runs_total', help: 'Reconciliation passes completed', registers: r }),
    // A failing step no longer stops the pass (the others run): this names which one keeps failing.
    reconciliationStepFailures: new Counter({
      name: 'reconciliation_step_failures_total', help: 'Reconciliation steps that threw (the rest of the pass still ran; the pass is reported failed), by step',
      labelNames: ['step'] as const, registers: r,
    }),
    creditReservationsActive: new Gauge({ name: 'credit_reservations_active', help: 'Active credit reservations', registers: r }),
    creditLedgerMismatches: new Gauge({ name: 'credit_ledger_mismatches', help: 'Shops whose wallet disagrees with the ledger or reservations', registers: r }),
    creditRefundShortfall: new Counter({ name: 'credit_refund_shortfall_total', help: 'Credits a refund could not claw back (already reserved or spent)', registers: r }),
    outboxPending: new Gauge({ name: 'outbox_pending', help: 'Outbox events not yet published (dead ones not included: outbox_dead)', registers: r }),
    // Dead rows are never published by the dispatcher: each waits for an operator (docs/runbooks/outbox.md).
    outboxDead: new Gauge({ name: 'outbox_dead', help: 'Outbox events set aside as dead (their payload fails their job schema), read at scrape', registers: r }),
    outboxPublishFailures: new Counter({
      name: 'outbox_publish_failures_total', help: 'Outbox dispatcher publishes that failed, by reason (schema: the job schema refused the payload; error: anything else, e.g. Redis unreachable)',
      labelNames: ['reason'] as const, registers: r,
    }),
    shopifyTokenExchanges: new Counter({ name: 'shopify_token_exchanges_total', help: 'Session-token exchanges for an offline Admin API token, by outcome', labelNames: ['outcome'] as const, registers: r }),
    shopifyAdminRequests: new Counter({ name: 'shopify_admin_requests_total', help: 'Admin GraphQL calls by outcome (ok, unauthorized, throttled, unavailable, failed, no_token)', labelNames: ['outcome'] as const, registers: r }),
    shopifyConsentWritebacks: new Counter({ name: 'shopify_consent_writebacks_total', help: 'Consent write-backs to Shopify by outcome (written, skipped, superseded, retried, failed)', labelNames: ['outcome'] as const, registers: r }),
    shopifySyncs: new Counter({ name: 'shopify_syncs_total', help: 'Customer syncs from Shopify that ended, by outcome (completed, failed)', labelNames: ['outcome'] as const, registers: r }),
    shopifySyncCustomers: new Counter({ name: 'shopify_sync_customers_total', help: 'Customers read by syncs, by what became of them (created, updated, unchanged, skipped_no_phone, invalid_phone)', labelNames: ['outcome'] as const, registers: r }),
    shopifySyncDuration: new Histogram({
      name: 'shopify_sync_duration_seconds', help: 'Customer sync time from queued to its end, by outcome', labelNames: ['outcome'] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 10800], registers: r,
    }),
    linkRedirects: new Counter({ name: 'link_redirects_total', help: 'Short-link requests by outcome (redirected, not_found, rate_limited)', labelNames: ['outcome'] as const, registers: r }),
    linkClicks: new Counter({ name: 'clicks_total', help: 'Clicks recorded (flushed to Postgres), human or bot (link previews, crawlers, prefetch, HEAD)', labelNames: ['kind'] as const, registers: r }),
    linkClicksDropped: new Counter({ name: 'link_clicks_dropped_total', help: 'Redirects answered but not recorded, by reason (ip_budget, buffer_full)', labelNames: ['reason'] as const, registers: r }),
    linkClickFlushFailures: new Counter({ name: 'link_click_flush_failures_total', help: 'Click flushes that failed (retried: the clicks stay buffered)', registers: r }),
    linkClicksBuffered: new Gauge({ name: 'link_clicks_buffered', help: 'Clicks answered by this api process and not yet written to Postgres (lost if it dies)', registers: r }),
    linkClickBufferAge: new Gauge({ name: 'link_click_buffer_oldest_seconds', help: 'Age of the oldest click waiting for its flush (0 when none; normally under a second)', registers: r }),
    attributedOrders: new Counter({ name: 'attributed_orders_total', help: 'Orders attributed to a campaign or a flow, by kind (click, view)', labelNames: ['kind'] as const, registers: r }),
    attributedRevenue: new Counter({ name: 'attributed_revenue_total', help: 'Revenue of attributed orders, in major units of each currency', labelNames: ['currency'] as const, registers: r }),
    attributedRevenueWithdrawn: new Counter({
      name: 'attributed_revenue_withdrawn_total',
      help: 'Attributed revenue taken back by refunds and cancellations, in major units of each currency (net revenue = attributed_revenue_total minus this)',
      labelNames: ['currency', 'reason'] as const,
      registers: r,
    }),
    shopErasures: new Counter({ name: 'shop_erasures_total', help: 'Shop erasures (shop/redact) that ended, by outcome (erased; not_requested: no shop awaiting erasure by that id)', labelNames: ['outcome'] as const, registers: r }),
    shopErasureRows: new Counter({ name: 'shop_erasure_rows_deleted_total', help: 'Rows deleted by shop erasures, by table', labelNames: ['table'] as const, registers: r }),
    // The point of the chunks: each transaction stays far below the 5 s bound a cascade used to break.
    shopErasureChunkDuration: new Histogram({
      name: 'shop_erasure_chunk_duration_seconds', help: 'Duration of one shop-erasure chunk (one transaction), by table',
      labelNames: ['table'] as const, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r,
    }),
    flowDeletions: new Counter({ name: 'flow_deletions_total', help: 'Deleted flows whose history job ended, by outcome (erased; not_deleted: no flow marked deleted by that id)', labelNames: ['outcome'] as const, registers: r }),
    flowDeletionChunkDuration: new Histogram({
      name: 'flow_deletion_chunk_duration_seconds', help: 'Duration of one chunk (one transaction) of a deleted flow\'s history job, by table',
      labelNames: ['table'] as const, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r,
    }),
    recipientPruningDue: new Gauge({
      name: 'campaigns_awaiting_recipient_pruning', help: 'Finished campaigns quiet for longer than RECIPIENT_RETENTION_DAYS whose recipient rows are not pruned yet, read at scrape', registers: r,
    }),
    recipientPruningOldestOverdue: new Gauge({
      name: 'recipient_pruning_oldest_overdue_seconds', help: 'How long past RECIPIENT_RETENTION_DAYS the oldest of them is (0 when none), read at scrape', registers: r,
    }),
    recipientPruneRuns: new Counter({
      name: 'recipient_prune_runs_total', help: 'Runs of the recipient-pruning job, by outcome (pruned: no row left; yielded: its slice ran out, it goes on; not_eligible: nothing done)',
      labelNames: ['outcome'] as const, registers: r,
    }),
    recipientPruneRows: new Counter({ name: 'recipient_prune_rows_deleted_total', help: 'Recipient rows of finished campaigns deleted past RECIPIENT_RETENTION_DAYS', registers: r }),
    // Each is one statement outside any long transaction: the point of the pieces and chunks is to stay far below the 5 s bound.
    recipientPruneStatementDuration: new Histogram({
      name: 'recipient_prune_statement_duration_seconds', help: 'Duration of one statement of the recipient-pruning job, by step (freeze_read: one piece of the stats or chart freeze; delete_chunk: one DELETE)',
      labelNames: ['step'] as const, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

let shared: Metrics | undefined;

/** The process-wide metrics (one registry per process, per Jest module registry in tests). */
export function getMetrics(): Metrics {
  shared ??= createMetrics();
  return shared;
}
