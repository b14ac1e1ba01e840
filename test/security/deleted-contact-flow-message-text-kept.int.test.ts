import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { executeFlowSteps } from '../../domain/flows/execute-flow-steps';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { stepsSchema } from '../../domain/flows/flow-input';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import { ProviderUnavailableError, type SmsProvider } from '../../domain/messaging/providers/provider';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { findEverywhere, rid } from '../webhooks';

// The attack: a flow message is written `sending` with its rendered text (the
// contact's name in it) before the provider call; a provider that refuses the
// request leaves it so, released, while the run waits a minute to try again.
// The merchant then deletes the contact (DELETE /api/contacts/:id, "what else
// quotes the person goes too, as customers/redact takes it"): customers/redact
// turns such a row final and drops its text, the delete kept it, name and
// all, until a reconciliation pass minutes later.

describe('a deleted contact with a flow message in flight', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  it('leaves no flow message text quoting it: the open message is final (skipped, or unknown if it may have gone) without its text', async () => {
    const shop = await createShop(env.db, { credits: 100 });
    await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false WHERE id = ${shop.id}::uuid`;
    const authz = `Bearer ${await sessionToken(shop.domain)}`;
    const steps = [{ type: 'send', body: 'Thanks {{firstName}}, see you soon' }];
    const created = await request(app).post('/api/flows').set('Authorization', authz).send({ name: 'Thanks', trigger: { type: 'order_created' }, steps });
    expect(created.status).toBe(201);
    expect((await request(app).post(`/api/flows/${created.body.id}/activate`).set('Authorization', authz).set('Idempotency-Key', randomUUID())).status).toBe(200);
    const firstName = rid('Zelda');
    const contact = await createContact(env.db, shop.id, { firstName });
    const at = new Date(Date.UTC(2026, 11, 1, 16));
    await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id,
        triggerType: 'order_created',
        shopTimezone: 'UTC',
        traceId: 'deleted-contact-flow-message',
        requireLive: true,
        flows: [{ id: created.body.id, versionId: created.body.currentVersion.id, steps: stepsSchema.parse(steps) }],
        candidates: [{ contactId: contact.id, subject: `o-${randomUUID()}`, triggeredAt: at, baseAt: at, phone: null, timezone: null }],
      }),
    );

    // The provider refuses the request as a whole: the row stays `sending`, released, with its text.
    const refusing: SmsProvider = {
      name: 'refusing',
      dedupsByReference: false,
      maxBatchSize: 100,
      sendBatch: () => Promise.reject(new ProviderUnavailableError('refusing', 'down', 503)),
    };
    const claim = await claimDueRuns(env.db, { now: at, limit: 10, leaseMs: 60_000 });
    expect(claim.runIds).toHaveLength(1);
    const outcomes = await executeFlowSteps(env.db, {
      runIds: claim.runIds,
      claimToken: claim.claimToken,
      now: () => at,
      send: { provider: refusing, phoneHashKey: env.config.PHONE_HASH_KEY, leaseMs: 60_000, quietHoursFloor: false },
    });
    expect([...outcomes.values()]).toEqual([expect.objectContaining({ kind: 'deferred', reason: 'provider_retry' })]);
    expect(await findEverywhere(env.db, [firstName])).toEqual([`contacts.first_name ∋ ${firstName}`, `flow_messages.body ∋ ${firstName}`]);

    expect((await request(app).delete(`/api/contacts/${contact.id}`).set('Authorization', authz)).status).toBe(204);

    expect(await findEverywhere(env.db, [firstName])).toEqual([]);
    const rows = await env.db.$queryRaw<{ status: string; skip_reason: string | null; body: string | null; claim_token: string | null }[]>`
      SELECT status, skip_reason, body, claim_token::text FROM flow_messages WHERE contact_id = ${contact.id}::uuid`;
    expect(rows).toEqual([{ status: 'skipped', skip_reason: 'not_sendable', body: null, claim_token: null }]);
    const [run] = await env.db.$queryRaw<{ status: string; exit_reason: string }[]>`SELECT status, exit_reason FROM flow_runs WHERE contact_id = ${contact.id}::uuid`;
    expect(run).toEqual({ status: 'exited', exit_reason: 'contact_erased' });
  });
});
