import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, grantCredits, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { counterValue, postSimulator, reportOutcome, rid } from '../webhooks';
import { recordWebhookEvent } from '../../domain/webhooks/record-event';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { processWebhookEvent } from '../../domain/webhooks/process-event';

// The attack: flow messages are matched to delivery reports by our client
// reference `f<id>`, a small sequential number anyone can guess. A report that
// names a flow message it does not belong to (another message's provider id,
// perhaps of another shop, with a guessed reference; or a replay) tries to
// mark that message delivered, earn its flow an attributed order by "view",
// or charge a shop again. What stops it: a report moves a message only when
// the message went out with that report's provider id (or went out with an
// outcome unknown, and then once: its debit has its own ledger key), and a
// message that never went out (skipped, failed) is never moved. A reference
// naming no message at all (a claim's batched send writes its messages only
// at the settle, under ids reserved before the call, so such a report may
// just be early) waits a bounded number of tries, then is dropped: it never
// creates a message and never charges.
describe('attack: a signed delivery report names a flow message it does not belong to', () => {
  let env: TestEnv;
  let app: Express;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks'] }));
  });
  afterAll(() => env.close());

  async function messageOf(shop: ShopFixture, o: { status: string; pmid: string | null }): Promise<string> {
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const created = await request(app)
      .post('/api/flows')
      .set('Authorization', auth)
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks for your order!' }] });
    expect(created.status).toBe(201);
    const contact = await createContact(env.db, shop.id);
    const [run] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, current_step, ended_at)
      VALUES (${created.body.id}::uuid, ${created.body.currentVersion.id}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'manual', ${`manual:${randomUUID()}`}, now(), 'completed', 1, now())
      RETURNING id::text`;
    const went = o.status !== 'skipped';
    const [m] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, skip_reason, segments, credits, provider_message_id, sent_at, final_at)
      VALUES (${run!.id}::bigint, 0, ${shop.id}::uuid, ${created.body.id}::uuid, ${created.body.currentVersion.id}::uuid, ${contact.id}::uuid, ${o.status},
              ${went ? null : 'frequency_cap'}, ${went ? 1 : null}, ${o.status === 'sent' ? 1 : 0}, ${o.pmid}, ${o.status === 'sent' ? new Date() : null},
              ${o.status === 'sent' ? null : new Date()})
      RETURNING id::text`;
    return m!.id;
  }

  const message = async (id: string) =>
    (await env.db.$queryRaw<{ status: string; delivered_at: Date | null; credits: number; provider_message_id: string | null }[]>`
      SELECT status, delivered_at, credits, provider_message_id FROM flow_messages WHERE id = ${id}::bigint`)[0]!;
  const debits = async (id: string) =>
    Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM credit_transactions WHERE idempotency_key = ${`flow-msg-${id}`}`)[0]!.n);

  /** Posts a correctly signed report and waits until the worker has closed its event. */
  async function report(pmid: string, reference: string): Promise<string> {
    const res = await postSimulator(app, 'status', { id: pmid, status: 'delivered', timestamp: new Date().toISOString(), reference });
    expect(res.status).toBeLessThan(300);
    let outcome = '';
    await waitFor(`the report ${pmid} closed`, async () => {
      outcome = await reportOutcome(env.db, 'sms-simulator', `${pmid}:delivered`);
      return outcome !== '';
    });
    return outcome;
  }

  it("another message's provider id under a guessed reference moves nothing", async () => {
    const victim = await messageOf(await createShop(env.db), { status: 'sent', pmid: rid('pm') });
    const attackerPmid = rid('pm');
    await messageOf(await createShop(env.db), { status: 'sent', pmid: attackerPmid });

    const ignored = await counterValue(worker.metrics, 'webhookEvents', { source: 'sms-simulator', outcome: 'ignored' });
    expect(await report(attackerPmid, `f${victim}`)).toBe('processed');
    // Closed as ignored (the group it came in with is what is `processed`).
    expect((await counterValue(worker.metrics, 'webhookEvents', { source: 'sms-simulator', outcome: 'ignored' })) - ignored).toBe(1);
    expect(await message(victim)).toMatchObject({ status: 'sent', delivered_at: null, credits: 1 });
  });

  it('a message that never went out (skipped) is not made delivered by a report naming it', async () => {
    const skipped = await messageOf(await createShop(env.db), { status: 'skipped', pmid: null });
    await report(rid('pm'), `f${skipped}`);
    expect(await message(skipped)).toMatchObject({ status: 'skipped', delivered_at: null, credits: 0 });
    expect(await debits(skipped)).toBe(0);
  });

  it('a message of unknown outcome is proven delivered once and charged once, whatever reports follow', async () => {
    const shop = await createShop(env.db);
    await grantCredits(env.db, shop.id, 10);
    const unknown = await messageOf(shop, { status: 'unknown', pmid: null });
    const pmid = rid('pm');

    expect(await report(pmid, `f${unknown}`)).toBe('processed');
    expect(await message(unknown)).toMatchObject({ status: 'delivered', credits: 1, provider_message_id: pmid });
    // The same report again (a replay under a new timestamp), and another provider id naming it.
    expect(await report(pmid, `f${unknown}`)).toBe('processed');
    expect(await report(rid('pm'), `f${unknown}`)).not.toBe('failed');
    expect(await message(unknown)).toMatchObject({ status: 'delivered', credits: 1, provider_message_id: pmid });
    expect(await debits(unknown)).toBe(1);
    const [w] = await env.db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(w!.balance)).toBe(9);
  });

  it('a reference naming no message (a guessed id never written) writes nothing and is dropped after its last try', async () => {
    const [seq] = await env.db.$queryRaw<{ next: bigint }[]>`SELECT nextval(pg_get_serial_sequence('flow_messages', 'id')) + 1000 AS next`;
    const next = seq!.next;
    const pmid = rid('pm');
    // As a row of its own (a report split out of its group once its grace ran out), without a job: no drain races the tries run here.
    const id = await recordWebhookEvent(env.db, { provider: 'sms-simulator', eventId: `${pmid}:delivered`, topic: 'status', payload: { id: pmid, status: 'delivered', timestamp: new Date().toISOString(), reference: `f${next}` } });
    expect(id).not.toBeNull();
    const deps = env.workerDeps();
    await expect(processWebhookEvent(deps, id!, { final: false })).rejects.toThrow(/not settled yet/);
    expect(await processWebhookEvent(deps, id!, { final: true })).toBe('dropped');
    const [n] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM flow_messages WHERE id = ${next}::bigint`;
    expect(Number(n!.n)).toBe(0);
    expect(await debits(String(next))).toBe(0);
  });
});
