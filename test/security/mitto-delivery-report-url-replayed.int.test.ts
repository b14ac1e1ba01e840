import type { Express } from 'express';
import request from 'supertest';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { createCampaign, createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { counterValue, reportHolders, reportOutcome, rid } from '../webhooks';

// The attack: Mitto has no signature scheme, so its delivery-report callback
// URL carries SMS_WEBHOOK_SECRET as `?token=` and the body no timestamp.
// Whoever sees one URL (a proxy log, a leaked access log, a screenshot of the
// provider console) can post reports for ever. What bounds the damage: the
// URL secret never reaches our logs, every report is deduplicated by
// `<providerMessageId>:<status>` whatever the number of replays, and a report
// about a message already final moves nothing (statuses only move forward).

const SECRET = 'mitto-callback-secret-that-must-never-be-logged-0123456789';

describe('attack: a captured Mitto delivery-report URL is replayed', () => {
  let env: TestEnv;
  let app: Express;
  let worker: WorkerDeps;

  beforeAll(async () => {
    // Every log line the api and the worker can write is kept.
    env = await createTestEnv({ SMS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'trace' });
    ({ app } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks'] }));
  });
  afterAll(async () => {
    await env.close();
  });

  async function sentRecipient(): Promise<{ id: string; pmid: string; shopId: string }> {
    const shop = await createShop(env.db, { credits: 10 });
    const contact = await createContact(env.db, shop.id);
    const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
    const pmid = rid('mitto');
    const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, attempt)
      VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sent', ${pmid}, 1, now(), 1) RETURNING id`;
    return { id: String(row!.id), pmid, shopId: shop.id };
  }

  const post = (body: Record<string, unknown>, token = SECRET) =>
    request(app).post(`/webhooks/sms/mitto/status?token=${encodeURIComponent(token)}`).set('Content-Type', 'application/json').send(JSON.stringify(body));

  async function recipientStatus(id: string): Promise<{ status: string; error_code: string | null; final_at: Date | null }> {
    const [row] = await env.db.$queryRaw<{ status: string; error_code: string | null; final_at: Date | null }[]>`
      SELECT status, error_code, final_at FROM campaign_recipients WHERE id = ${id}::bigint`;
    return row!;
  }

  it('the same report replayed 20 times is stored once and moves the recipient once', async () => {
    const r = await sentRecipient();
    const body = { id: r.pmid, reference: `r${r.id}`, status: 'delivered', timestamp: new Date().toISOString() };
    const before = await counterValue(worker.metrics, 'deliveryReports', { provider: 'mitto', status: 'delivered' });

    const answers = [];
    for (let i = 0; i < 20; i++) answers.push((await post(body)).body as unknown);
    expect(answers[0]).toEqual({ received: true });
    expect(answers.slice(1)).toEqual(Array.from({ length: 19 }, () => ({ duplicate: true })));
    await waitFor('the report applied', async () => (await reportOutcome(env.db, 'sms-mitto', `${r.pmid}:delivered`)) === 'processed');

    expect(await reportHolders(env.db, 'sms-mitto', `${r.pmid}:delivered`)).toHaveLength(1);
    expect(await recipientStatus(r.id)).toMatchObject({ status: 'delivered', error_code: null });
    expect(await counterValue(worker.metrics, 'deliveryReports', { provider: 'mitto', status: 'delivered' })).toBe(before + 1);
  });

  it('a report about a message already final (or a forged opposite status) is a no-op, however often it comes', async () => {
    const r = await sentRecipient();
    const delivered = { id: r.pmid, reference: `r${r.id}`, status: 'delivered' };
    expect((await post(delivered)).status).toBe(200);
    await waitFor('delivered applied', async () => (await reportOutcome(env.db, 'sms-mitto', `${r.pmid}:delivered`)) === 'processed');
    const final = await recipientStatus(r.id);
    const failedBefore = await counterValue(worker.metrics, 'deliveryReports', { provider: 'mitto', status: 'failed' });

    const failed = { id: r.pmid, reference: `r${r.id}`, status: 'failed', errorCode: 'absent_subscriber' };
    for (let i = 0; i < 5; i++) expect((await post(failed)).status).toBe(200);
    await waitFor('the late report closed', async () => (await reportOutcome(env.db, 'sms-mitto', `${r.pmid}:failed`)) === 'processed');

    expect(await recipientStatus(r.id)).toEqual(final);
    expect(await counterValue(worker.metrics, 'deliveryReports', { provider: 'mitto', status: 'failed' })).toBe(failedBefore);
    // Money never moves on a delivery report for a sent message.
    const [w] = await env.db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${r.shopId}::uuid`;
    expect(Number(w?.balance)).toBe(10);
  });

  it('after a rotation the old URL is refused; during it, the old secret still works and is counted', async () => {
    const r = await sentRecipient();
    const NEW = 'mitto-callback-secret-after-rotation-9876543210fedcba';
    const during = await env.api({ config: { ...env.config, SMS_WEBHOOK_SECRET: NEW, SMS_WEBHOOK_SECRET_PREVIOUS: SECRET } });
    const after = await env.api({ config: { ...env.config, SMS_WEBHOOK_SECRET: NEW } });
    const send = (a: Express, token: string) =>
      request(a).post(`/webhooks/sms/mitto/status?token=${token}`).set('Content-Type', 'application/json').send(JSON.stringify({ id: r.pmid, reference: `r${r.id}`, status: 'delivered' }));
    expect((await send(during.app, SECRET)).status).toBe(200);
    expect(await counterValue(during.deps.metrics, 'webhookEvents', { source: 'sms-mitto', outcome: 'previous_secret' })).toBe(1);
    expect((await send(during.app, NEW)).body).toEqual({ duplicate: true });
    expect(await counterValue(during.deps.metrics, 'webhookEvents', { source: 'sms-mitto', outcome: 'previous_secret' })).toBe(1);
    expect((await send(after.app, SECRET)).status).toBe(401);
    expect((await send(after.app, NEW)).body).toEqual({ duplicate: true });
  });

  it('neither the URL secret nor a guessed token appears in any log line, whatever the outcome', async () => {
    const r = await sentRecipient();
    const guess = 'guessed-token-0123456789abcdef';
    expect((await post({ id: r.pmid, reference: `r${r.id}`, status: 'delivered' })).status).toBe(200);
    expect((await post({ id: r.pmid, status: 'lost-in-space' })).status).toBe(400);
    expect((await post({ id: r.pmid, status: 'delivered' }, guess)).status).toBe(401);
    expect((await request(app).post(`/webhooks/sms/nobody/status?token=${SECRET}`).send('{}')).status).toBe(404);
    await waitFor('the report applied', async () => (await reportOutcome(env.db, 'sms-mitto', `${r.pmid}:delivered`)) === 'processed');

    const logs = env.logs.text();
    // The requests were logged (the test would be empty otherwise)...
    expect(logs).toContain('/webhooks/sms/mitto/status');
    // ...without their query string.
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(encodeURIComponent(SECRET));
    expect(logs).not.toContain(guess);
    expect(logs).not.toContain('token=');
  });
});
