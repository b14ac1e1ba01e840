import type { Express } from 'express';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { sendKeywordReply } from '../../domain/compliance/send-keyword-reply';
import { dispatchOutbox } from '../../domain/outbox/outbox';
import { shopTokenCipher } from '../../domain/shops/access-token/token-cipher';
import { processWebhookEvent } from '../../domain/webhooks/process-event';
import { jobIds } from '../../queue/job-ids';
import { createContact, createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { SIM_API_KEY, simulatorProvider, startSimulator, waitFor } from '../sending';
import { postSimulator, rid, webhookEvent } from '../webhooks';

// The attack: every keyword text is answered with an SMS. A provider that
// retries its callback, a replayed signed body, the inbound job's fallback
// running after the inline path, a republished outbox event or a duplicate
// job would each be a way to make us text a number again and again (a STOP
// confirmation repeated is harassment of someone who just opted out, and
// every one costs money). One inbound text must give one reply, whatever
// reaches us how many times.

describe('an inbound keyword delivered and replayed many times', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;
  let url: string;

  beforeAll(async () => {
    ({ sim, url } = await startSimulator());
    env = await createTestEnv({ SMS_PROVIDER: 'simulator', SMS_PROVIDER_URL: url, SMS_PROVIDER_API_KEY: SIM_API_KEY });
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks', 'sends', 'maintenance'] });
  });
  afterAll(async () => {
    await env.close();
    await sim.stop();
  });

  it('is answered by exactly one SMS', async () => {
    const sender = `1203${String(Date.now()).slice(-7)}`;
    const shop = await createShop(env.db, { senderId: sender });
    const phone = testPhone();
    await createContact(env.db, shop.id, { phone });
    const body = { id: rid('in'), from: phone, to: sender, text: 'STOP', timestamp: new Date().toISOString() };

    // Five deliveries at once, then two late ones.
    const first = await Promise.all(Array.from({ length: 5 }, () => postSimulator(app, 'inbound', body)));
    for (const r of first) expect(r.status).toBe(200);
    expect(first.filter((r) => r.body.received === true)).toHaveLength(1);
    for (let i = 0; i < 2; i++) expect((await postSimulator(app, 'inbound', body)).body).toEqual({ duplicate: true });

    const reply = async () =>
      (
        await env.db.$queryRaw<{ id: string; status: string }[]>`
          SELECT id::text, status FROM keyword_replies WHERE inbound_message_id = ${body.id}`
      )[0];
    await waitFor('the reply sent', async () => (await reply())?.status === 'sent');
    const { id } = (await reply())!;

    // The stored event processed again (the fallback job, an operator's replay), even with its mark reset.
    const event = await webhookEvent(env.db, 'sms-simulator', `inbound:${body.id}`);
    await env.db.$executeRaw`UPDATE webhook_events SET status = 'received' WHERE id = ${event!.id}::uuid`;
    const worker = env.workerDeps();
    expect(await processWebhookEvent(worker, event!.id, { final: false })).toBe('processed');
    // The outbox event republished, and the job added again under its id.
    await env.db.$executeRaw`UPDATE outbox_events SET published_at = NULL WHERE event_type = 'keyword.reply.v1' AND aggregate_id = ${id}`;
    await dispatchOutbox(env.db, worker.producer);
    await worker.producer.add('keyword.reply.v1', { traceId: 'replay', replyId: id }, { jobId: jobIds.keywordReply(id) });
    // And the job's work run once more, as a duplicate job would.
    const provider = simulatorProvider(url);
    expect(await sendKeywordReply({ db: env.db, provider, now: () => new Date(), leaseMs: 60_000, cipher: shopTokenCipher(env.config) }, id)).toEqual({ outcome: 'done', status: 'sent' });
    provider.close();
    const job = await worker.queues.get('sends').getJob(jobIds.keywordReply(id));
    expect(job?.data).toMatchObject({ replyId: id });
    expect(await job?.getState()).toBe('completed');

    const [rows] = await env.db.$queryRaw<{ replies: number; events: number }[]>`
      SELECT (SELECT count(*)::int FROM keyword_replies WHERE inbound_message_id = ${body.id}) AS replies,
             (SELECT count(*)::int FROM outbox_events WHERE event_type = 'keyword.reply.v1' AND aggregate_id = ${id}) AS events`;
    expect(rows).toEqual({ replies: 1, events: 1 });
    expect(sim.referenceStats(`k${id}`)).toMatchObject({ sends: 1, duplicates: 0 });
    expect(sim.stats().messagesAccepted).toBe(1);
  });
});
