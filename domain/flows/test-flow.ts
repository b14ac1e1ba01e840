import { randomUUID } from 'node:crypto';
import type { Db, Tx } from '../../lib/db';
import { AppError, notFound } from '../../lib/errors';
import type { IdempotencyGuard } from '../idempotency/guard';
import { flowNotReady } from './flow-errors';
import { goLiveProblems, MAX_TEST_RUNS_IN_FLIGHT, MAX_TEST_RUNS_PER_HOUR } from './flow-input';
import { getFlowRow, getFlowVersion } from './get-flow';
import { startFlowRuns } from './start-flow-runs';

/** The published run (api.md, Flows). */
export interface FlowRunView {
  id: string;
  flowId: string;
  versionId: string;
  version: number;
  contactId: string;
  triggerType: string;
  status: string;
  currentStep: number;
  nextDueAt: string | null;
}

/**
 * POST /api/flows/:id/test: the merchant's test trigger. One run of the
 * flow's current version for one of the shop's subscribed contacts, starting
 * now (leading waits still apply), whatever the flow's status: a merchant tries
 * a draft before making it live. Its subject is minted per execution, so the
 * request's Idempotency-Key (required; its fence lets one execution commit)
 * is what makes a retry start no second run. The run obeys consent, quiet
 * hours and smart sending like any other. Bounded (api.md, "Flows"): at most
 * MAX_TEST_RUNS_IN_FLIGHT in progress per flow (409 LIMIT_REACHED) and
 * MAX_TEST_RUNS_PER_HOUR started per shop (429 RATE_LIMITED, Retry-After), both
 * counted from the rows on their partial indexes (migration 20261220400000),
 * so the bound holds with Redis down too.
 */
export async function testFlow(
  db: Db,
  c: { shopId: string; flowId: string; contactId: string; requestId: string; guard: IdempotencyGuard; now: Date },
): Promise<FlowRunView> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    // Share-locked, before the flow (app/uninstalled locks the shop, then its flows): an uninstall either committed
    // first (nothing starts) or waits for this run, and then ends it with the shop's other test runs.
    const [shop] = await tx.$queryRaw<{ timezone: string; status: string }[]>`SELECT timezone, status FROM shops WHERE id = ${c.shopId}::uuid FOR SHARE`;
    if (shop?.status !== 'active') throw new AppError('INVALID_STATE', 'The app is not installed for this shop', { details: { status: shop?.status ?? 'deleted' } });
    // The shop's test runs of the last hour, counted under a per-shop lock so racing requests cannot both take the last place.
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`flow-tests:${c.shopId}`}, 0))`;
    await assertHourlyTestRuns(tx, c.shopId);
    // Locked: a delete only updates the flow row (no lock of the run's foreign key conflicts with that),
    // so this lock orders the two: a delete waiting for it then counts this run; one that went first is NOT_FOUND here.
    const flow = await getFlowRow(tx, c.shopId, c.flowId, { forUpdate: true });
    const version = await getFlowVersion(tx, c.flowId, flow.current_version_id);
    if (!version) throw flowNotReady([{ path: 'steps', message: 'the flow has no version' }]);
    const problems = goLiveProblems(flow.trigger_type, version.steps);
    if (problems.length > 0) throw flowNotReady(problems);
    // Counted under the flow's lock (above): one place, one run.
    const [inFlight] = await tx.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM flow_runs
       WHERE shop_id = ${c.shopId}::uuid AND flow_id = ${c.flowId}::uuid AND trigger_type = 'manual' AND status = 'active'`;
    if ((inFlight?.n ?? 0) >= MAX_TEST_RUNS_IN_FLIGHT) {
      throw new AppError('LIMIT_REACHED', `A flow has at most ${MAX_TEST_RUNS_IN_FLIGHT} test runs in progress; wait for one to end`, {
        details: { limit: MAX_TEST_RUNS_IN_FLIGHT, resource: 'flow_test_runs' },
      });
    }
    const [contact] = await tx.$queryRaw<{ id: string; phone_e164: string | null; timezone: string | null; sms_consent: string }[]>`
      SELECT id, phone_e164, timezone, sms_consent FROM contacts
       WHERE id = ${c.contactId}::uuid AND shop_id = ${c.shopId}::uuid AND erased_at IS NULL`;
    if (!contact) throw notFound('Contact');
    if (contact.sms_consent !== 'subscribed') {
      throw new AppError('INVALID_STATE', 'A test run texts the contact: it must be subscribed', { details: { status: contact.sms_consent } });
    }
    const [run] = await startFlowRuns(tx, {
      shopId: c.shopId,
      triggerType: 'manual',
      flows: [{ id: flow.id, versionId: version.id, steps: version.steps }],
      candidates: [{ contactId: contact.id, subject: `manual:${randomUUID()}`, triggeredAt: c.now, baseAt: c.now, phone: contact.phone_e164, timezone: contact.timezone }],
      shopTimezone: shop.timezone,
      traceId: c.requestId,
      requireLive: false,
    });
    // The subject is new: only a flow edited or deleted under us leaves nothing inserted.
    if (!run) throw new AppError('REQUEST_IN_PROGRESS', 'The flow changed while the test started; retry', { headers: { 'Retry-After': '1' } });
    return {
      id: run.id,
      flowId: run.flow_id,
      versionId: run.version_id,
      version: version.version,
      contactId: run.contact_id,
      triggerType: 'manual',
      status: 'active',
      currentStep: run.current_step,
      nextDueAt: run.next_due_at.toISOString(),
    };
  });
}

/** 429 once the shop started MAX_TEST_RUNS_PER_HOUR test runs within the hour; Retry-After: until the oldest of them leaves it. */
async function assertHourlyTestRuns(tx: Tx, shopId: string): Promise<void> {
  const [hour] = await tx.$queryRaw<{ n: number; retry: number | null }[]>`
    SELECT count(*)::int AS n,
           ceil(extract(epoch FROM (min(created_at) + interval '1 hour' - now())))::int AS retry
      FROM (SELECT created_at FROM flow_runs
             WHERE shop_id = ${shopId}::uuid AND trigger_type = 'manual' AND created_at > now() - interval '1 hour'
             ORDER BY created_at DESC LIMIT ${MAX_TEST_RUNS_PER_HOUR}::int) recent`;
  if ((hour?.n ?? 0) < MAX_TEST_RUNS_PER_HOUR) return;
  const retryAfter = Math.max(1, hour?.retry ?? 1);
  throw new AppError('RATE_LIMITED', `A shop starts at most ${MAX_TEST_RUNS_PER_HOUR} test runs an hour; retry later`, {
    headers: { 'Retry-After': String(retryAfter) },
    details: { limiter: 'flow_test_runs', retryAfterSeconds: retryAfter },
  });
}
