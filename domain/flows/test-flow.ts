import { randomUUID } from 'node:crypto';
import type { Db } from '../../lib/db';
import { AppError, notFound } from '../../lib/errors';
import type { IdempotencyGuard } from '../idempotency/guard';
import { flowNotReady } from './flow-errors';
import { goLiveProblems } from './flow-input';
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
 * hours and smart sending like any other.
 */
export async function testFlow(
  db: Db,
  c: { shopId: string; flowId: string; contactId: string; requestId: string; guard: IdempotencyGuard; now: Date },
): Promise<FlowRunView> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    // Locked: a delete only updates the flow row (no lock of the run's foreign key conflicts with that),
    // so this lock orders the two: a delete waiting for it then counts this run; one that went first is NOT_FOUND here.
    const flow = await getFlowRow(tx, c.shopId, c.flowId, { forUpdate: true });
    const version = await getFlowVersion(tx, c.flowId, flow.current_version_id);
    if (!version) throw flowNotReady([{ path: 'steps', message: 'the flow has no version' }]);
    const problems = goLiveProblems(flow.trigger_type, version.steps);
    if (problems.length > 0) throw flowNotReady(problems);
    const [contact] = await tx.$queryRaw<{ id: string; phone_e164: string | null; timezone: string | null; sms_consent: string }[]>`
      SELECT id, phone_e164, timezone, sms_consent FROM contacts
       WHERE id = ${c.contactId}::uuid AND shop_id = ${c.shopId}::uuid AND erased_at IS NULL`;
    if (!contact) throw notFound('Contact');
    if (contact.sms_consent !== 'subscribed') {
      throw new AppError('INVALID_STATE', 'A test run texts the contact: it must be subscribed', { details: { status: contact.sms_consent } });
    }
    const [shop] = await tx.$queryRaw<{ timezone: string }[]>`SELECT timezone FROM shops WHERE id = ${c.shopId}::uuid`;
    const [run] = await startFlowRuns(tx, {
      shopId: c.shopId,
      triggerType: 'manual',
      flows: [{ id: flow.id, versionId: version.id, steps: version.steps }],
      candidates: [{ contactId: contact.id, subject: `manual:${randomUUID()}`, triggeredAt: c.now, baseAt: c.now, phone: contact.phone_e164, timezone: contact.timezone }],
      shopTimezone: shop?.timezone ?? 'UTC',
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
