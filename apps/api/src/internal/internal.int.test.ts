import request from 'supertest';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createContact, createContactsBulk, createShop } from '../../../../test/factories';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { FLOW_HOLD_GRACE_MS, flowClaimHoldKey, holdFlowCredits } from '../../../../domain/flows/hold-flow-credits';
import { signInternalRequest } from '../../../../domain/ops/internal-signature';
import { campaignStatus, moneyState, queuedCampaign, waitFor } from '../../../../test/sending';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const SECRET = process.env.INTERNAL_SIGNING_SECRET as string;
/** Headers of one signed request, with a fresh nonce unless one is given. */
function signed(method: 'GET' | 'POST', pathWithQuery: string, body = '', opts: { secret?: string; ts?: number; nonce?: string } = {}) {
  const timestampSec = opts.ts ?? Math.floor(Date.now() / 1000);
  const nonce = opts.nonce ?? randomBytes(16).toString('base64url');
  const signature = signInternalRequest(opts.secret ?? SECRET, { method, pathWithQuery, body, timestampSec, nonce });
  return { 'X-Internal-Timestamp': String(timestampSec), 'X-Internal-Nonce': nonce, 'X-Internal-Signature': signature, 'Content-Type': 'application/json' };
}

describe('/internal/* signature', () => {
  it('accepts a valid signature', async () => {
    const { app } = await env.api();
    const res = await request(app).post('/internal/reconcile').set(signed('POST', '/internal/reconcile', '{}')).send('{}');
    expect(res.status).toBe(200);
    expect(res.body.repairs).toHaveProperty('stale_lease');
  });

  it.each([
    ['missing headers', {}],
    ['a wrong secret', signed('POST', '/internal/reconcile', '{}', { secret: 'not-the-secret-at-all' })],
    ['a signature over another body', signed('POST', '/internal/reconcile', '{"campaignId":null}')],
    ['a signature for another path', signed('POST', '/internal/reservations/x/release', '{}')],
    ['a replay after 5 minutes', signed('POST', '/internal/reconcile', '{}', { ts: Math.floor(Date.now() / 1000) - 400 })],
    ['a timestamp from the future', signed('POST', '/internal/reconcile', '{}', { ts: Math.floor(Date.now() / 1000) + 400 })],
    ['no nonce', (({ 'X-Internal-Nonce': _n, ...rest }) => rest)(signed('POST', '/internal/reconcile', '{}'))],
    ['a nonce other than the signed one', { ...signed('POST', '/internal/reconcile', '{}'), 'X-Internal-Nonce': randomBytes(16).toString('base64url') }],
    ['a nonce of the wrong shape', signed('POST', '/internal/reconcile', '{}', { nonce: 'short' })],
    ['a signature for the path with another query', signed('POST', '/internal/reconcile?dry=1', '{}')],
  ])('refuses %s with 401 INVALID_SIGNATURE', async (_what, headers) => {
    const { app } = await env.api();
    const res = await request(app).post('/internal/reconcile').set(headers as Record<string, string>).send('{}');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('INVALID_SIGNATURE');
  });

  it('signs the query: a request signed with its query passes, and its nonce then cannot be used again', async () => {
    const { app } = await env.api();
    const headers = signed('POST', '/internal/reconcile?dry=1', '{}');
    expect((await request(app).post('/internal/reconcile?dry=1').set(headers).send('{}')).status).toBe(200);
    const again = await request(app).post('/internal/reconcile?dry=1').set(headers).send('{}');
    expect([again.status, again.body.error.code]).toEqual([401, 'INVALID_SIGNATURE']);
    const ttl = await env.workerDeps().redis.ttl(`${env.prefix}:internal-nonce:${headers['X-Internal-Nonce']}`);
    expect(ttl).toBeGreaterThan(300); // kept while its timestamp can still be accepted
    expect(ttl).toBeLessThanOrEqual(601);
  });

  it("accepts the contract's nonce-less form (HMAC of \"<ts>.<METHOD>.<path>.<body>\"), once: a replay of it, or of it with a query added, is refused", async () => {
    const { app } = await env.api();
    const ts = String(Math.floor(Date.now() / 1000));
    // Signed by hand exactly as api.md writes it, not with our helper.
    const signature = createHmac('sha256', SECRET).update(`${ts}.POST./internal/reconcile.{}`).digest('hex');
    const headers = { 'X-Internal-Timestamp': ts, 'X-Internal-Signature': signature, 'Content-Type': 'application/json' };
    const first = await request(app).post('/internal/reconcile').set(headers).send('{}');
    expect(first.status).toBe(200);
    expect(first.body.repairs).toHaveProperty('stale_lease');
    for (const path of ['/internal/reconcile', '/internal/reconcile?dry=1']) {
      const again = await request(app).post(path).set(headers).send('{}');
      expect([again.status, again.body.error.code]).toEqual([401, 'INVALID_SIGNATURE']);
    }
    // A nonce-less signature does not pass as a nonce-form one, or the other way round.
    const withNonce = await request(app).post('/internal/reconcile').set({ ...headers, 'X-Internal-Nonce': randomBytes(16).toString('base64url') }).send('{}');
    expect(withNonce.status).toBe(401);
    const getTs = String(Math.floor(Date.now() / 1000));
    const inspect = await request(app)
      .get('/internal/campaigns/00000000-0000-4000-8000-000000000000')
      .set({ 'X-Internal-Timestamp': getTs, 'X-Internal-Signature': createHmac('sha256', SECRET).update(`${getTs}.GET./internal/campaigns/00000000-0000-4000-8000-000000000000.`).digest('hex') });
    expect(inspect.status).toBe(404);
    expect(inspect.body.error.code).toBe('NOT_FOUND');
  });

  it('is disabled (404), not open, without INTERNAL_SIGNING_SECRET', async () => {
    const { app } = await env.api({ config: { ...env.config, INTERNAL_SIGNING_SECRET: undefined } });
    const res = await request(app).post('/internal/reconcile').set(signed('POST', '/internal/reconcile', '{}')).send('{}');
    expect(res.status).toBe(404);
  });
});

describe('/internal operations', () => {
  it('inspects a campaign of any shop, and 404s an unknown one', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db);
    const c = await createCampaign(env.db, shop.id);
    const path = `/internal/campaigns/${c.id}`;
    const res = await request(app).get(path).set(signed('GET', path));
    expect(res.status).toBe(200);
    expect(res.body.campaign).toMatchObject({ id: c.id, shopDomain: shop.domain, status: 'draft' });
    expect(res.body.jobs.launch).toBe('missing');
    const missing = `/internal/campaigns/00000000-0000-4000-8000-000000000000`;
    expect((await request(app).get(missing).set(signed('GET', missing))).status).toBe(404);
  });

  it('releases a stuck reservation of an ended campaign once (idempotent)', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db, { credits: 40 });
    const c = await createCampaign(env.db, shop.id, { status: 'cancelled' });
    await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 25 WHERE shop_id = ${shop.id}::uuid`;
    const [r] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, 'stuck', 25) RETURNING id`;
    const path = `/internal/reservations/${r!.id}/release`;
    const first = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    const second = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    expect([first.status, second.status]).toEqual([200, 200]);
    expect([first.body.released, second.body.released]).toEqual([25, 0]);
    const [w] = await env.db.$queryRaw<{ reserved: bigint }[]>`SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(w!.reserved)).toBe(0);
  });

  it('refuses (409) to release the reservation of a campaign still sending with pending recipients, naming its state', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db, { credits: 40 });
    const c = await createCampaign(env.db, shop.id, { status: 'sending' });
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status) VALUES (${c.id}::uuid, 0, 1, 'pending')`;
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c.id}::uuid, ${contact.id}::uuid, 0)`;
    await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 25 WHERE shop_id = ${shop.id}::uuid`;
    const [r] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, ${`campaign-${c.id}`}, 25) RETURNING id`;
    const path = `/internal/reservations/${r!.id}/release`;
    const res = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'INVALID_STATE', details: { campaignId: c.id, campaignStatus: 'sending', openRecipients: 1 } });
    const [after] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM credit_reservations WHERE id = ${r!.id}::uuid`;
    expect(after?.status).toBe('active');
    const [w] = await env.db.$queryRaw<{ reserved: bigint }[]>`SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(w!.reserved)).toBe(25);
  });

  it("refuses (409) to release a flow send's credit hold while its settle may still charge it, and releases it once expired", async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db, { credits: 40 });
    // What a flow claim holds before its provider call (hold-flow-credits.ts); its settle charges the messages out of it.
    const key = flowClaimHoldKey(randomUUID());
    const expiresAt = new Date(Date.now() + FLOW_HOLD_GRACE_MS);
    await env.db.$transaction((tx) => holdFlowCredits(tx, { key, expiresAt, items: [{ shopId: shop.id, segments: 25 }] }));
    const [r] = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM credit_reservations WHERE shop_id = ${shop.id}::uuid AND reservation_key = ${key}`;
    const path = `/internal/reservations/${r!.id}/release`;
    const res = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'INVALID_STATE', details: { expiresAt: expiresAt.toISOString() } });
    const reservation = async () =>
      (await env.db.$queryRaw<{ status: string; reserved: bigint }[]>`
        SELECT r.status, w.reserved FROM credit_reservations r JOIN credit_wallets w ON w.shop_id = r.shop_id WHERE r.id = ${r!.id}::uuid`)[0]!;
    expect(await reservation()).toEqual({ status: 'active', reserved: 25n });

    // Past its expiry nothing charges it any more (reconciliation gives it back too): released.
    await env.db.$executeRaw`UPDATE credit_reservations SET expires_at = now() - interval '1 second' WHERE id = ${r!.id}::uuid`;
    const later = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    expect([later.status, later.body.released]).toEqual([200, 25]);
    expect(await reservation()).toEqual({ status: 'closed', reserved: 0n });
  });

  it('replays failed webhook events in bulk: oldest first, at most `limit`, filtered; each then processed once', async () => {
    const { app } = await env.api();
    const failed = async (provider: string, topic: string, ageMin: number): Promise<string> => {
      const [row] = await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, last_error, received_at)
        VALUES (${provider}, ${`evt_bulk_${randomBytes(8).toString('hex')}`}, ${topic}, '{}'::jsonb, 'failed', 10, 'boom', now() - ${ageMin}::int * interval '1 minute')
        RETURNING id`;
      return row!.id;
    };
    // customer.created has no handler: processing marks it ignored, one attempt.
    const [a, b, c] = [await failed('stripe', 'customer.created', 30), await failed('stripe', 'customer.created', 20), await failed('stripe', 'customer.created', 10)];
    const otherTopic = await failed('stripe', 'customer.deleted', 25);
    const tooOld = await failed('stripe', 'customer.created', 600);
    const since = new Date(Date.now() - 60 * 60_000).toISOString();
    const replay = async (body: Record<string, unknown>) => {
      const raw = JSON.stringify(body);
      return request(app).post('/internal/webhooks/replay-failed').set(signed('POST', '/internal/webhooks/replay-failed', raw)).send(raw);
    };
    const rows = async () =>
      Object.fromEntries(
        (await env.db.$queryRaw<{ id: string; status: string; attempts: number }[]>`
          SELECT id, status, attempts FROM webhook_events WHERE id = ANY(${[a, b, c, otherTopic, tooOld]}::uuid[])`).map((r) => [r.id, `${r.status}/${r.attempts}`]),
      );

    const first = await replay({ provider: 'stripe', topic: 'customer.created', since, limit: 2 });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ requeued: 2, ids: [a, b], more: true });
    const { host } = await env.worker({ queues: ['webhooks'] });
    try {
      const second = await replay({ provider: 'stripe', topic: 'customer.created', since, limit: 2 });
      expect(second.body).toEqual({ requeued: 1, ids: [c], more: false });
      await waitFor('replayed events processed', async () => Object.values(await rows()).filter((v) => v === 'ignored/1').length === 3);
      // Processed once each; the other topic and the event older than `since` stay failed.
      expect(await rows()).toEqual({ [a]: 'ignored/1', [b]: 'ignored/1', [c]: 'ignored/1', [otherTopic]: 'failed/10', [tooOld]: 'failed/10' });
      // Nothing left to replay under the filter.
      expect((await replay({ provider: 'stripe', topic: 'customer.created', since })).body).toEqual({ requeued: 0, ids: [], more: false });
    } finally {
      await host.close();
    }
    expect((await replay({ limit: 1001 })).status).toBe(400);
  });

  it('replays a stored webhook event', async () => {
    const { app, deps } = await env.api();
    const [e] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, last_error) VALUES ('stripe', 'evt_replay', 'charge.refunded', '{}'::jsonb, 'failed', 8, 'boom') RETURNING id`;
    const path = `/internal/webhooks/${e!.id}/replay`;
    const res = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: e!.id, outcome: 'requeued' });
    const [row] = await env.db.$queryRaw<{ status: string; attempts: number }[]>`SELECT status, attempts FROM webhook_events WHERE id = ${e!.id}::uuid`;
    expect(row).toEqual({ status: 'received', attempts: 0 });
    expect(await deps.queues.get('webhooks').getJob(`webhook-${e!.id}`)).toBeDefined();
  });
});

describe('POST /internal/campaigns/:id/cancel', () => {
  const cancel = (app: Parameters<typeof request>[0], id: string, raw: string, headers: Record<string, string>) =>
    request(app).post(`/internal/campaigns/${id}/cancel`).set(headers).send(raw);

  it("cancels a campaign of any shop as the merchant's cancel does and logs who and why; a second call (the contract's nonce-less form) answers already_cancelled", async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db, { credits: 50 });
    await createContactsBulk(env.db, shop.id, 3);
    const c = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2 });
    const path = `/internal/campaigns/${c.id}/cancel`;
    const raw = JSON.stringify({ reason: 'runaway: wrong audience', operator: 'alice' });

    const first = await cancel(app, c.id, raw, signed('POST', path, raw));
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ id: c.id, shopId: shop.id, outcome: 'cancelled', status: 'cancelled', released: 6, kept: 0 });
    expect(await campaignStatus(env.db, c.id)).toBe('cancelled');
    expect(await moneyState(env.db, shop.id)).toMatchObject({ balance: 50, reserved: 0, activeRemaining: 0 });
    const line = env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'campaign cancelled by hand' && l.campaignId === c.id);
    expect(line).toMatchObject({ level: 'warn', shopId: shop.id, operator: 'alice', reason: 'runaway: wrong audience', outcome: 'cancelled', released: 6 });

    const ts = String(Math.floor(Date.now() / 1000));
    const again = JSON.stringify({ reason: 'making sure' });
    const signature = createHmac('sha256', SECRET).update(`${ts}.POST.${path}.${again}`).digest('hex');
    const second = await cancel(app, c.id, again, { 'X-Internal-Timestamp': ts, 'X-Internal-Signature': signature, 'Content-Type': 'application/json' });
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ id: c.id, shopId: shop.id, outcome: 'already_cancelled', status: 'cancelled', released: 0, kept: 0 });
  });

  it('refuses an unsigned cancel, or one signed for another campaign, with 401 INVALID_SIGNATURE, and changes nothing', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db, { credits: 50 });
    await createContactsBulk(env.db, shop.id, 2);
    const c = await queuedCampaign(env.db, shop.id);
    const other = await createCampaign(env.db, shop.id);
    const raw = JSON.stringify({ reason: 'no' });
    for (const headers of [{ 'Content-Type': 'application/json' }, signed('POST', `/internal/campaigns/${other.id}/cancel`, raw)]) {
      const res = await cancel(app, c.id, raw, headers);
      expect([res.status, res.body.error?.code]).toEqual([401, 'INVALID_SIGNATURE']);
    }
    expect(await campaignStatus(env.db, c.id)).toBe('queued');
    expect((await moneyState(env.db, shop.id)).reserved).toBe(c.reserved);
  });

  it('answers 404 for an unknown campaign, 409 INVALID_STATE with the status for a completed one, and 400 without a reason', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db);
    const done = await createCampaign(env.db, shop.id, { status: 'completed' });
    const raw = JSON.stringify({ reason: 'stop it' });
    const unknownId = '00000000-0000-4000-8000-000000000000';
    const missing = await cancel(app, unknownId, raw, signed('POST', `/internal/campaigns/${unknownId}/cancel`, raw));
    expect([missing.status, missing.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    const completed = await cancel(app, done.id, raw, signed('POST', `/internal/campaigns/${done.id}/cancel`, raw));
    expect(completed.status).toBe(409);
    expect(completed.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status: 'completed' } });
    expect(typeof completed.body.error.requestId).toBe('string');
    expect(await campaignStatus(env.db, done.id)).toBe('completed');
    for (const body of ['{}', JSON.stringify({ reason: '   ' }), JSON.stringify({ reason: 'x', campaignId: unknownId })]) {
      const res = await cancel(app, done.id, body, signed('POST', `/internal/campaigns/${done.id}/cancel`, body));
      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
  });
});

describe('POST /internal/outbox/:id/requeue and /delete', () => {
  const post = (app: Parameters<typeof request>[0], path: string, raw: string) => request(app).post(path).set(signed('POST', path, raw)).send(raw);
  const insertOutbox = async (o: { dead?: boolean; published?: boolean } = {}): Promise<string> => {
    const [row] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO outbox_events (event_type, aggregate_id, payload, attempts, next_attempt_at, last_error, dead_at, published_at)
      VALUES ('flows.trigger.v1', ${`agg-${randomBytes(4).toString('hex')}`}, '{"flowId": 1}'::jsonb, ${o.dead ? 8 : 0}, ${o.dead ? new Date() : null},
              ${o.dead ? 'ZodError: shopId: Required' : null}, ${o.dead ? new Date() : null}, ${o.published ? new Date() : null})
      RETURNING id::text AS id`;
    return row!.id;
  };
  const state = async (id: string) =>
    (await env.db.$queryRaw<{ attempts: number; last_error: string | null; dead: boolean; next_attempt_at: Date | null }[]>`
      SELECT attempts, last_error, dead_at IS NOT NULL AS dead, next_attempt_at FROM outbox_events WHERE id = ${BigInt(id)}`)[0];
  const logLine = (msg: string, id: string) => env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === msg && l.outboxId === id);

  it('requeues a dead event for the dispatcher (attempts, retry and error cleared) and logs who, why and what it was; a second requeue is 409 pending', async () => {
    const { app } = await env.api();
    const id = await insertOutbox({ dead: true });
    const raw = JSON.stringify({ reason: 'schema fix deployed (INC-12)', operator: 'alice' });
    const res = await post(app, `/internal/outbox/${id}/requeue`, raw);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, outcome: 'requeued', eventType: 'flows.trigger.v1', attempts: 8, lastError: 'ZodError: shopId: Required' });
    expect(await state(id)).toEqual({ attempts: 0, last_error: null, dead: false, next_attempt_at: null });
    expect(logLine('dead outbox event requeued by hand', id)).toMatchObject({ level: 'warn', eventType: 'flows.trigger.v1', operator: 'alice', reason: 'schema fix deployed (INC-12)', attempts: 8, outcome: 'requeued' });
    // No payload in the log line.
    expect(JSON.stringify(logLine('dead outbox event requeued by hand', id))).not.toContain('flowId');

    const again = await post(app, `/internal/outbox/${id}/requeue`, raw);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status: 'pending' } });
  });

  it('deletes a dead event and logs it; refuses (409, kept) a pending or published one; 404 for an unknown or already deleted one', async () => {
    const { app } = await env.api();
    const id = await insertOutbox({ dead: true });
    const raw = JSON.stringify({ reason: 'shop uninstalled, work not wanted' });
    const res = await post(app, `/internal/outbox/${id}/delete`, raw);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, outcome: 'deleted', eventType: 'flows.trigger.v1', attempts: 8 });
    expect(await state(id)).toBeUndefined();
    expect(logLine('dead outbox event deleted by hand', id)).toMatchObject({ level: 'warn', operator: null, reason: 'shop uninstalled, work not wanted', outcome: 'deleted' });
    const gone = await post(app, `/internal/outbox/${id}/delete`, raw);
    expect([gone.status, gone.body.error?.code]).toEqual([404, 'NOT_FOUND']);

    for (const [o, status] of [[{}, 'pending'], [{ published: true }, 'published']] as const) {
      const live = await insertOutbox(o);
      for (const action of ['delete', 'requeue']) {
        const refused = await post(app, `/internal/outbox/${live}/${action}`, raw);
        expect(refused.status).toBe(409);
        expect(refused.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status } });
      }
      expect(await state(live)).toBeDefined();
    }
  });

  it('answers 400 for an id that is not an outbox id or a body without a reason, and 401 unsigned; nothing changes', async () => {
    const { app } = await env.api();
    const id = await insertOutbox({ dead: true });
    for (const bad of ['0', '-1', 'abc', '1.5', '99999999999999999999', '00000000-0000-4000-8000-000000000000']) {
      const res = await post(app, `/internal/outbox/${bad}/delete`, JSON.stringify({ reason: 'x' }));
      expect([bad, res.status, res.body.error?.code]).toEqual([bad, 400, 'VALIDATION_FAILED']);
    }
    for (const body of ['{}', JSON.stringify({ reason: '  ' }), JSON.stringify({ reason: 'x', payload: {} })]) {
      const res = await post(app, `/internal/outbox/${id}/delete`, body);
      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    const unsigned = await request(app).post(`/internal/outbox/${id}/delete`).set('Content-Type', 'application/json').send(JSON.stringify({ reason: 'x' }));
    expect([unsigned.status, unsigned.body.error?.code]).toEqual([401, 'INVALID_SIGNATURE']);
    expect(await state(id)).toMatchObject({ dead: true, attempts: 8 });
    const unknown = await post(app, '/internal/outbox/9223372036854775807/requeue', JSON.stringify({ reason: 'x' }));
    expect([unknown.status, unknown.body.error?.code]).toEqual([404, 'NOT_FOUND']);
  });
});
