import { internalRequestHeaders } from '../../domain/ops/internal-signature';
import { inspectCampaign } from '../../domain/ops/inspect-campaign';
import { flowBacklog, inspectContactFlowRuns } from '../../domain/ops/inspect-flow-runs';
import { normalizePhone } from '../../domain/contacts/phone';
import { inspectClicks } from '../../domain/ops/inspect-clicks';
import { inspectRetention } from '../../domain/ops/inspect-retention';
import { findLedgerMismatches } from '../../domain/reconciliation/ledger-check';
import type { Config } from '../../lib/config';
import type { Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { jobIds } from '../../queue/job-ids';
import { ALL_QUEUES } from '../../queue/names';
import { keyValues, table } from './table';

// The on-call CLI: `npm run ops -- <command>`. Read-only inspection reads the
// database and Redis directly; anything that changes state goes through the
// signed /internal/* API so it runs the same code as the service.

export interface OpsIo {
  config: Config;
  db: () => Db;
  queues: () => QueueSet;
  apiUrl: string;
  /** Who runs the command, recorded with a by-hand change (OPS_OPERATOR, else the OS user). */
  operator?: string;
  out: (text: string) => void;
  now?: () => Date;
}

export const HELP = `Usage: npm run ops -- <command> [options]

Commands:
  campaign:inspect <campaignId>     status counts, batches, jobs, reservation, last activity
  campaign:reconcile <campaignId>   run reconciliation for one campaign now (signed API call)
  campaign:cancel <campaignId> --reason "<text>"
                                    stop a campaign of any shop exactly as the merchant's Cancel does: pending recipients
                                    cancelled, unused credits released; who and why are logged (signed API call)
  campaign:resolve-unknown <campaignId> --as sent|failed [--dry-run]
                                    settle recipients left unknown (never re-sends; sent = charged once) (signed API call)
  reconcile                         run a full reconciliation pass now (signed API call)
  webhook:list [--failed] [--limit N]  recent webhook events (--failed: failed, dropped or stuck)
  consent:writebacks [--failed] [--shop <shopId>] [--limit N]
                                    consent write-backs to Shopify (--failed: refused or retries exhausted)
  sync:list [--failed] [--shop <shopId>] [--limit N]
                                    customer syncs from Shopify, newest first (--failed: failed or stuck)
  sync:start <shopId>               resync a shop's customers, or show the one running (signed API call)
  webhook:replay <eventId>          reprocess one stored webhook event (signed API call)
  webhook:replay --failed [--provider X] [--topic Y] [--since ISO] [--limit N]
                                    reprocess failed webhook events, oldest first, at most N (default 100, max 1000)
                                    per call; run again while it reports more (signed API call)
  outbox:list [--dead] [--limit N]  unpublished outbox events in the dispatcher's order: attempts, next retry, last error
                                    (--dead: events set aside as dead, newest first; replay: docs/runbooks/outbox.md)
  outbox:requeue <outboxId> --reason "<text>"
                                    put a dead outbox event back for the dispatcher (attempts and error cleared); who and
                                    why are logged (signed API call)
  outbox:delete <outboxId> --reason "<text>"
                                    delete a dead outbox event: its job never runs; who, why and the event are logged
                                    (signed API call). Dead events are pruned after OUTBOX_DEAD_RETENTION_MS (30 days)
  wallet:verify [--shop <shopId>]   wallet = Σ ledger and reserved = Σ active reservations; exit 1 on mismatch
  reservation:release <reservationId>  release what a stuck reservation still holds (signed API call)
  flow:runs <contactId|+phone> [--shop <shopId>]
                                    a contact's flow runs, newest first: step, status, due, claim, message
  flow:backlog [flowId]             due flow runs by flow and step, oldest due first (one flow: due and waiting per step)
  queues                            jobs per queue and state
  clicks:inspect [<campaignId>]     locks held or awaited on link_clicks (a blocked click flush); with a campaign,
                                    its clicks recorded and the newest click and write (are clicks arriving?)
  retention:status                  recipient table size, campaigns past RECIPIENT_RETENTION_DAYS awaiting pruning
                                    (oldest first), half-done ones, pruned in the last day, failed pruning jobs

Options:
  --json    machine-readable output
  --help    this text

Environment: DATABASE_URL, REDIS_URL, QUEUE_PREFIX, INTERNAL_SIGNING_SECRET, OPS_API_URL (default http://127.0.0.1:$PORT),
             OPS_OPERATOR (who you are, logged with a cancel or an outbox requeue/delete; default the OS user)`;

interface Parsed {
  command: string | undefined;
  args: string[];
  flags: Map<string, string | true>;
}

function parse(argv: string[]): Parsed {
  const args: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      const next = argv[i + 1];
      if (['--limit', '--shop', '--as', '--provider', '--topic', '--since', '--reason'].includes(a) && next !== undefined) {
        flags.set(a.slice(2), next);
        i++;
      } else flags.set(a.slice(2), true);
    } else args.push(a);
  }
  return { command: args.shift(), args, flags };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class OpsError extends Error {}

function needId(p: Parsed, what: string): string {
  const id = p.args[0];
  if (!id || !UUID.test(id)) throw new OpsError(`${p.command} needs a ${what} (a UUID)`);
  return id;
}

async function signedCall(io: OpsIo, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const secret = io.config.INTERNAL_SIGNING_SECRET;
  if (!secret) throw new OpsError('INTERNAL_SIGNING_SECRET is not set: the signed ops API is disabled');
  const raw = body === undefined ? '' : JSON.stringify(body);
  const res = await fetch(`${io.apiUrl}${path}`, {
    method,
    headers: {
      ...internalRequestHeaders(secret, { method, pathWithQuery: path, body: raw, now: io.now?.() }),
      ...(raw ? { 'Content-Type': 'application/json' } : {}),
    },
    body: raw || undefined,
    signal: AbortSignal.timeout(60_000),
  });
  const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string; details?: unknown } };
  if (!res.ok) {
    const details = describeDetails(json.error?.details);
    throw new OpsError(`${method} ${path} → ${res.status} ${json.error?.code ?? ''} ${json.error?.message ?? ''}${details ? ` (${details})` : ''}`.trim());
  }
  return json;
}

// A refusal's details say what state it was refused in (a 409's campaign status, open recipients): shown with the error.
function describeDetails(details: unknown): string {
  if (Array.isArray(details)) return details.map((d) => (d && typeof d === 'object' && 'message' in d ? String((d as { message: unknown }).message) : JSON.stringify(d))).join('; ');
  if (details && typeof details === 'object') return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
  return '';
}

/** Runs one command; returns the process exit code. */
export async function runOps(argv: string[], io: OpsIo): Promise<number> {
  const p = parse(argv);
  const json = p.flags.has('json');
  const print = (human: string, data: unknown): void => io.out(json ? JSON.stringify(data, null, 2) : human);
  if (!p.command || p.flags.has('help') || p.command === 'help') {
    io.out(HELP);
    return p.command || p.flags.has('help') ? 0 : 2;
  }
  const now = io.now?.() ?? new Date();
  switch (p.command) {
    case 'campaign:inspect': {
      const id = needId(p, 'campaign id');
      const inspection = await inspectCampaign(io.db(), id, now);
      if (!inspection) throw new OpsError(`campaign ${id} not found`);
      const queues = io.queues();
      const launchJob = await queues.get('campaigns').getJob(jobIds.launch(id));
      const jobs: Record<string, string> = { launch: launchJob ? await launchJob.getState() : 'missing' };
      for (const n of inspection.batches.pendingBatchNos.slice(0, 10)) {
        const job = await queues.get('sends').getJob(jobIds.sendBatch(id, n));
        jobs[`batch ${n}`] = job ? await job.getState() : 'missing';
      }
      const c = inspection.campaign;
      print(
        [
          `Campaign ${c.id} (${c.shopDomain})`,
          keyValues({ status: c.status, recipients: c.totalRecipients, startedAt: c.startedAt, completedAt: c.completedAt, lastActivityAt: c.lastActivityAt, traceId: c.traceId }),
          '',
          inspection.recipientsFrozen
            ? `Recipients by status (frozen; rows ${c.recipientsPrunedAt ? `pruned at ${c.recipientsPrunedAt.toISOString()}` : 'being pruned'} past the retention)`
            : 'Recipients by status',
          table([inspection.recipients]),
          `stale leases (sending past lease): ${inspection.staleLeases}`,
          '',
          `Batches: ${inspection.batches.total} total, ${inspection.batches.pending} pending, ${inspection.batches.done} done`,
          table(Object.entries(jobs).map(([job, state]) => ({ job, state }))),
          '',
          'Reservation',
          inspection.reservation ? keyValues({ ...inspection.reservation, debited: inspection.debited }) : '(none)',
        ].join('\n'),
        { ...inspection, jobs },
      );
      return 0;
    }
    case 'campaign:reconcile':
    case 'reconcile': {
      const campaignId = p.command === 'campaign:reconcile' ? needId(p, 'campaign id') : undefined;
      const report = (await signedCall(io, 'POST', '/internal/reconcile', campaignId ? { campaignId } : {})) as {
        repairs: Record<string, number>;
        campaignsStuck: number;
        ledgerMismatches: unknown[];
      };
      print(
        [table(Object.entries(report.repairs).map(([kind, repaired]) => ({ kind, repaired }))), `campaigns stuck: ${report.campaignsStuck}`, `ledger mismatches: ${report.ledgerMismatches.length}`].join('\n'),
        report,
      );
      return 0;
    }
    case 'campaign:cancel': {
      const id = needId(p, 'campaign id');
      const reason = p.flags.get('reason');
      if (typeof reason !== 'string' || reason.trim() === '') throw new OpsError('campaign:cancel needs --reason "<why>" (it is logged with who ran it)');
      const r = (await signedCall(io, 'POST', `/internal/campaigns/${id}/cancel`, { reason, ...(io.operator ? { operator: io.operator.slice(0, 100) } : {}) })) as {
        outcome: 'cancelled' | 'already_cancelled'; status: string; released: number; kept: number;
      };
      const head = r.outcome === 'already_cancelled'
        ? `campaign ${id} was already cancelled: nothing changed`
        : `cancelled campaign ${id}: released ${r.released} credit(s) now${r.kept > 0 ? `, ${r.kept} kept for messages in flight (released as they settle)` : ''}`;
      print([head, keyValues(r as unknown as Record<string, unknown>)].join('\n'), r);
      return 0;
    }
    case 'campaign:resolve-unknown': {
      const id = needId(p, 'campaign id');
      const as = p.flags.get('as');
      if (as !== 'sent' && as !== 'failed') throw new OpsError('campaign:resolve-unknown needs --as sent or --as failed');
      const dryRun = p.flags.has('dry-run');
      const r = (await signedCall(io, 'POST', `/internal/campaigns/${id}/resolve-unknown`, { as, dryRun })) as {
        unknown: number; resolvable: number; segments: number; moved: number; charged: number; shortfall: number;
      };
      const head = dryRun
        ? `DRY RUN: would resolve ${r.resolvable} of ${r.unknown} unknown recipient(s) as ${as}${as === 'sent' ? `, charging ${r.segments} credit(s)` : ' (free)'}`
        : `resolved ${r.moved} unknown recipient(s) as ${as}${as === 'sent' ? `, charged ${r.charged} credit(s)${r.shortfall > 0 ? ` (shortfall ${r.shortfall})` : ''}` : ''}`;
      print([head, keyValues(r as unknown as Record<string, unknown>)].join('\n'), r);
      return 0;
    }
    case 'webhook:list': {
      const limit = Math.min(Math.max(Number(p.flags.get('limit') ?? 50) || 50, 1), 500);
      const failedOnly = p.flags.has('failed');
      const rows = await io.db().$queryRaw<{ id: string; provider: string; topic: string; status: string; attempts: number; last_error: string | null; received_at: Date }[]>`
        SELECT id, provider, topic, status, attempts, last_error, received_at FROM webhook_events
         WHERE NOT ${failedOnly} OR status IN ('failed', 'dropped') OR (status = 'received' AND received_at < ${new Date(now.getTime() - 300_000)})
         ORDER BY received_at DESC LIMIT ${limit}`;
      print(table(rows, ['id', 'provider', 'topic', 'status', 'attempts', 'last_error', 'received_at']), rows);
      return 0;
    }
    case 'consent:writebacks': {
      const limit = Math.min(Math.max(Number(p.flags.get('limit') ?? 50) || 50, 1), 500);
      const failedOnly = p.flags.has('failed');
      const shop = p.flags.get('shop');
      if (shop !== undefined && (shop === true || !UUID.test(shop))) throw new OpsError('--shop needs a shop id (a UUID)');
      const rows = await io.db().$queryRaw<{ contact_id: string; shop_id: string; status: string; attempts: number; written_state: string | null; last_error: string | null; updated_at: Date }[]>`
        SELECT contact_id, shop_id, status, attempts, written_state, last_error, updated_at FROM shopify_consent_writebacks
         WHERE (NOT ${failedOnly} OR status = 'failed') AND (${shop ?? null}::uuid IS NULL OR shop_id = ${shop ?? null}::uuid)
         ORDER BY updated_at DESC LIMIT ${limit}`;
      print(table(rows, ['contact_id', 'shop_id', 'status', 'attempts', 'written_state', 'last_error', 'updated_at']), rows);
      return 0;
    }
    case 'outbox:list': {
      const limit = Math.min(Math.max(Number(p.flags.get('limit') ?? 50) || 50, 1), 500);
      // Each on its partial index; payloads are not printed (read one row by id: docs/runbooks/outbox.md).
      const rows = p.flags.has('dead')
        ? await io.db().$queryRaw<Record<string, unknown>[]>`
            SELECT id::text AS id, event_type, aggregate_id, attempts, dead_at, last_error, available_at, created_at FROM outbox_events
             WHERE dead_at IS NOT NULL ORDER BY dead_at DESC, id DESC LIMIT ${limit}`
        : await io.db().$queryRaw<Record<string, unknown>[]>`
            SELECT id::text AS id, event_type, aggregate_id, attempts, next_attempt_at, last_error, available_at, created_at FROM outbox_events
             WHERE published_at IS NULL AND dead_at IS NULL ORDER BY available_at, id LIMIT ${limit}`;
      const columns = p.flags.has('dead') ? ['id', 'event_type', 'aggregate_id', 'attempts', 'dead_at', 'last_error'] : ['id', 'event_type', 'aggregate_id', 'attempts', 'next_attempt_at', 'last_error', 'available_at'];
      print(table(rows, columns), rows);
      return 0;
    }
    case 'outbox:requeue':
    case 'outbox:delete': {
      const id = p.args[0];
      if (!id || !/^[1-9][0-9]{0,18}$/.test(id)) throw new OpsError(`${p.command} needs an outbox event id (a positive integer, from outbox:list --dead)`);
      const reason = p.flags.get('reason');
      if (typeof reason !== 'string' || reason.trim() === '') throw new OpsError(`${p.command} needs --reason "<why>" (it is logged with who ran it)`);
      const action = p.command === 'outbox:requeue' ? 'requeue' : 'delete';
      const r = (await signedCall(io, 'POST', `/internal/outbox/${id}/${action}`, { reason, ...(io.operator ? { operator: io.operator.slice(0, 100) } : {}) })) as {
        id: string; outcome: 'requeued' | 'deleted'; eventType: string; aggregateId: string; attempts: number; lastError: string | null; deadAt: string;
      };
      const head = r.outcome === 'requeued'
        ? `requeued dead outbox event ${r.id} (${r.eventType}): the dispatcher publishes it within seconds`
        : `deleted dead outbox event ${r.id} (${r.eventType}): its job will never run`;
      print([head, keyValues(r as unknown as Record<string, unknown>)].join('\n'), r);
      return 0;
    }
    case 'sync:list': {
      const limit = Math.min(Math.max(Number(p.flags.get('limit') ?? 50) || 50, 1), 500);
      const failedOnly = p.flags.has('failed');
      const shop = p.flags.get('shop');
      if (shop !== undefined && (shop === true || !UUID.test(shop))) throw new OpsError('--shop needs a shop id (a UUID)');
      const quietSince = new Date(now.getTime() - 300_000);
      const rows = await io.db().$queryRaw<Record<string, unknown>[]>`
        SELECT id, shop_id, status, reason, bulk_status, bulk_finished_via, polls, attempts, lines_applied::float8 AS lines_applied, customers_seen,
               contacts_created, contacts_updated, error, created_at, updated_at, finished_at
          FROM shop_syncs
         WHERE (NOT ${failedOnly} OR status = 'failed' OR (status IN ('queued', 'running') AND updated_at < ${quietSince}))
           AND (${shop ?? null}::uuid IS NULL OR shop_id = ${shop ?? null}::uuid)
         ORDER BY created_at DESC LIMIT ${limit}`;
      print(table(rows, ['id', 'shop_id', 'status', 'reason', 'bulk_status', 'lines_applied', 'customers_seen', 'attempts', 'error', 'updated_at']), rows);
      return 0;
    }
    case 'sync:start': {
      const id = needId(p, 'shop id');
      const result = (await signedCall(io, 'POST', `/internal/shops/${id}/sync`, {})) as { created: boolean; sync: Record<string, unknown> };
      print(keyValues({ created: result.created, ...result.sync, counts: JSON.stringify(result.sync.counts) }), result);
      return 0;
    }
    case 'webhook:replay': {
      if (p.flags.has('failed')) {
        if (p.args.length > 0) throw new OpsError('webhook:replay takes an event id or --failed, not both');
        const body: Record<string, unknown> = {};
        for (const name of ['provider', 'topic'] as const) {
          const v = p.flags.get(name);
          if (v === true) throw new OpsError(`--${name} needs a value`);
          if (v !== undefined) body[name] = v;
        }
        const since = p.flags.get('since');
        if (since !== undefined) {
          if (since === true || Number.isNaN(Date.parse(since))) throw new OpsError('--since needs an ISO 8601 time (2026-01-31T00:00:00Z)');
          body.since = new Date(since).toISOString();
        }
        const limit = p.flags.get('limit');
        if (limit !== undefined) {
          const n = Number(limit);
          if (!Number.isInteger(n) || n < 1 || n > 1000) throw new OpsError('--limit needs a whole number from 1 to 1000');
          body.limit = n;
        }
        const result = (await signedCall(io, 'POST', '/internal/webhooks/replay-failed', body)) as { requeued: number; ids: string[]; more: boolean };
        print(
          [`requeued ${result.requeued} failed webhook event(s)`, ...result.ids, result.more ? 'more failed events match: run the command again' : 'no more failed events match'].join('\n'),
          result,
        );
        return 0;
      }
      const id = needId(p, 'webhook event id');
      const result = await signedCall(io, 'POST', `/internal/webhooks/${id}/replay`, {});
      print(keyValues(result as Record<string, unknown>), result);
      return 0;
    }
    case 'reservation:release': {
      const id = needId(p, 'reservation id');
      const result = await signedCall(io, 'POST', `/internal/reservations/${id}/release`, {});
      print(keyValues(result as Record<string, unknown>), result);
      return 0;
    }
    case 'wallet:verify': {
      const shop = p.flags.get('shop');
      if (shop !== undefined && (shop === true || !UUID.test(shop))) throw new OpsError('--shop needs a shop id (a UUID)');
      const mismatches = await findLedgerMismatches(io.db(), { shopId: shop === undefined ? undefined : shop });
      print(mismatches.length === 0 ? 'OK: every wallet equals its ledger and reservations' : `MISMATCH in ${mismatches.length} shop(s):\n${table(mismatches as unknown as Record<string, unknown>[])}`, { ok: mismatches.length === 0, mismatches });
      return mismatches.length === 0 ? 0 : 1;
    }
    case 'clicks:inspect': {
      const campaignId = p.args[0] === undefined ? undefined : needId(p, 'campaign id');
      const inspection = await inspectClicks(io.db(), { campaignId });
      if (inspection.campaign === null) throw new OpsError(`campaign ${campaignId} not found`);
      const lines = ['Locks on link_clicks (an exclusive one held blocks every click flush)', table(inspection.locks as unknown as Record<string, unknown>[], ['pid', 'mode', 'granted', 'state', 'seconds', 'application', 'query'])];
      const k = inspection.campaign;
      if (k) lines.push('', `Clicks of campaign ${k.campaignId}`, keyValues({ human: k.human, bot: k.bot, unique: k.unique, newestClickedAt: k.newestClickedAt, newestRecordedAt: k.newestRecordedAt, maxLagSecondsLastHour: k.maxLagSecondsLastHour }));
      print(lines.join('\n'), inspection);
      return 0;
    }
    case 'flow:runs': {
      const arg = p.args[0];
      const shop = p.flags.get('shop');
      if (shop !== undefined && (shop === true || !UUID.test(shop))) throw new OpsError('--shop needs a shop id (a UUID)');
      const phone = arg && /^\+?[0-9]{6,15}$/.test(arg) ? normalizePhone(arg.startsWith('+') ? arg : `+${arg}`) : null;
      if (!arg || (!UUID.test(arg) && !phone)) throw new OpsError('flow:runs needs a contact id (a UUID) or a phone number in E.164 (+15551234567)');
      const r = await inspectContactFlowRuns(io.db(), phone ? { phoneE164: phone, shopId: shop === undefined ? undefined : shop } : { contactId: arg });
      if (r.contacts.length === 0) throw new OpsError('no such contact');
      print(
        [
          table(r.contacts as unknown as Record<string, unknown>[], ['id', 'shopId', 'smsConsent', 'erased']),
          '',
          table(r.runs as unknown as Record<string, unknown>[], ['runId', 'flow', 'flowStatus', 'version', 'trigger', 'status', 'exitReason', 'step', 'dueAt', 'leaseUntil', 'attempt', 'message', 'triggeredAt']),
        ].join('\n'),
        r,
      );
      return 0;
    }
    case 'flow:backlog': {
      const flowId = p.args[0] === undefined ? undefined : needId(p, 'flow id');
      const rows = await flowBacklog(io.db(), { now, flowId });
      const oldest = rows.reduce<Date | null>((m, r) => (r.oldestDueAt && (!m || r.oldestDueAt < m) ? r.oldestDueAt : m), null);
      const due = rows.reduce((n, r) => n + r.due, 0);
      const columns = ['flowId', 'flow', 'flowStatus', 'step', 'stepType', 'due', 'claimed', 'expiredClaims', 'oldestDueAt', ...(flowId ? ['waiting', 'nextDueAt'] : [])];
      print(
        [table(rows as unknown as Record<string, unknown>[], columns), `due: ${due}; oldest due: ${oldest ? `${oldest.toISOString()} (${Math.round((now.getTime() - oldest.getTime()) / 1000)} s ago)` : '-'}`].join('\n'),
        { due, oldestDueAt: oldest, rows },
      );
      return 0;
    }
    case 'retention:status': {
      const r = await inspectRetention(io.db(), { now, retentionDays: io.config.RECIPIENT_RETENTION_DAYS });
      // The maintenance queue holds a few hundred jobs at most: its failed ones are read whole.
      const failed = (await io.queues().get('maintenance').getJobs(['failed'], 0, 499))
        .filter((j) => j.name === 'campaigns.prune-recipients.v1')
        .map((j) => ({ jobId: j.id, campaignId: (j.data as { campaignId?: string }).campaignId, attempts: j.attemptsMade, failedReason: j.failedReason, finishedOn: j.finishedOn ? new Date(j.finishedOn) : null }));
      const data = { ...r, failedJobs: failed };
      print(
        [
          keyValues({
            retentionDays: r.retentionDays,
            cutoff: r.cutoff,
            recipientTableBytes: r.table.bytes,
            recipientRowsEstimated: r.table.estimatedRows,
            awaitingPruning: r.awaiting.count,
            frozenNotPruned: r.frozenNotPruned,
            prunedLastDay: r.prunedLastDay,
            failedPruningJobs: failed.length,
          }),
          '',
          'Oldest campaigns awaiting pruning',
          table(r.awaiting.oldest as unknown as Record<string, unknown>[], ['campaignId', 'shopId', 'status', 'lastActivityAt', 'overdueDays', 'frozen']),
          ...(failed.length > 0 ? ['', 'Failed pruning jobs', table(failed as unknown as Record<string, unknown>[], ['jobId', 'campaignId', 'attempts', 'failedReason', 'finishedOn'])] : []),
        ].join('\n'),
        data,
      );
      return 0;
    }
    case 'queues': {
      const states = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;
      const rows = await Promise.all(ALL_QUEUES.map(async (q) => ({ queue: q, ...(await io.queues().get(q).getJobCounts(...states)) })));
      print(table(rows, ['queue', ...states]), rows);
      return 0;
    }
    default:
      throw new OpsError(`unknown command ${p.command}; see --help`);
  }
}
