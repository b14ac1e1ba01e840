import type { Express } from 'express';
import request from 'supertest';
import { phoneHmac } from '../../../../domain/compliance/suppressions';
import { phoneHash } from '../../../../domain/contacts/phone';
import { processWebhookEvent } from '../../../../domain/webhooks/process-event';
import { recordWebhookEvent } from '../../../../domain/webhooks/record-event';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createContact, createShop, grantCredits, testPhone } from '../../../../test/factories';
import { waitFor } from '../../../../test/sending';
import { tableFingerprints } from '../../../../test/table-fingerprints';
import { counterValue, postSimulator, reportHolders, reportOutcome, rid, webhookEvent, type ReportHolder } from '../../../../test/webhooks';
import type { WorkerDeps } from '../../../worker/src/deps';
import type { ApiDeps } from '../deps';

describe('POST /webhooks/sms/:provider/*', () => {
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps: api } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks'] }));
  });
  afterAll(async () => {
    await env.close();
  });

  async function recipient(o: { status?: string; providerMessageId?: string | null } = {}): Promise<{ id: string; shopId: string; providerMessageId: string | null }> {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
    const status = o.status ?? 'sent';
    const pmid = o.providerMessageId === undefined ? rid('msg') : o.providerMessageId;
    const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, claim_token, lease_until)
      VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, ${status}, ${pmid}, ${status === 'sending' ? null : 1}::smallint,
              ${status === 'sending' || status === 'unknown' ? null : new Date()}, ${status === 'sending' ? '00000000-0000-4000-8000-000000000001' : null}::uuid,
              ${status === 'sending' ? new Date(Date.now() + 60_000) : null})
      RETURNING id`;
    return { id: String(row!.id), shopId: shop.id, providerMessageId: pmid };
  }

  async function recipientState(id: string) {
    const [row] = await env.db.$queryRaw<{ status: string; error_code: string | null; final_at: Date | null; provider_message_id: string | null }[]>`
      SELECT status, error_code, final_at, provider_message_id FROM campaign_recipients WHERE id = ${id}::bigint`;
    return row!;
  }

  const report = (id: string, status: 'delivered' | 'failed', extra: Record<string, unknown> = {}) => ({ id, status, timestamp: new Date().toISOString(), ...extra });

  async function settled(provider: string, eventId: string): Promise<string> {
    let status = '';
    await waitFor(`report ${eventId} settled`, async () => {
      status = await reportOutcome(env.db, provider, eventId);
      return status !== '';
    });
    return status;
  }

  describe('delivery reports', () => {
    it('applies sent → delivered once; a duplicate is answered as such and stored nowhere', async () => {
      const r = await recipient();
      const before = await counterValue(worker.metrics, 'deliveryReports', { provider: 'simulator', status: 'delivered' });
      const body = report(r.providerMessageId!, 'delivered', { reference: `r${r.id}` });
      expect((await postSimulator(app, 'status', body)).body).toEqual({ received: true });
      expect(await settled('sms-simulator', `${r.providerMessageId}:delivered`)).toBe('processed');
      const state = await recipientState(r.id);
      expect(state.status).toBe('delivered');
      expect(state.final_at).toBeInstanceOf(Date);
      // Stored once, in a group row of the inbox; its key decides duplicates.
      expect(await reportHolders(env.db, 'sms-simulator', `${r.providerMessageId}:delivered`)).toEqual([expect.objectContaining({ topic: 'status-batch', status: 'processed' })]);

      expect((await postSimulator(app, 'status', body)).body).toEqual({ duplicate: true });
      expect(await reportHolders(env.db, 'sms-simulator', `${r.providerMessageId}:delivered`)).toHaveLength(1);
      expect((await counterValue(worker.metrics, 'deliveryReports', { provider: 'simulator', status: 'delivered' })) - before).toBe(1);
    });

    it('out of order: a failed report after delivered changes nothing, and vice versa', async () => {
      const a = await recipient();
      await postSimulator(app, 'status', report(a.providerMessageId!, 'delivered'));
      expect(await settled('sms-simulator', `${a.providerMessageId}:delivered`)).toBe('processed');
      await postSimulator(app, 'status', report(a.providerMessageId!, 'failed', { errorCode: 'absent_subscriber' }));
      expect(await settled('sms-simulator', `${a.providerMessageId}:failed`)).toBe('processed');
      expect(await recipientState(a.id)).toMatchObject({ status: 'delivered', error_code: null });

      const b = await recipient();
      await postSimulator(app, 'status', report(b.providerMessageId!, 'failed', { errorCode: 'unknown_subscriber' }));
      expect(await settled('sms-simulator', `${b.providerMessageId}:failed`)).toBe('processed');
      await postSimulator(app, 'status', report(b.providerMessageId!, 'delivered'));
      expect(await settled('sms-simulator', `${b.providerMessageId}:delivered`)).toBe('processed');
      expect(await recipientState(b.id)).toMatchObject({ status: 'failed', error_code: 'unknown_subscriber' });
    });

    it('an unknown outcome is resolved by the report, matched through the client reference', async () => {
      const r = await recipient({ status: 'unknown', providerMessageId: null });
      const pmid = rid('msg');
      await postSimulator(app, 'status', report(pmid, 'failed', { reference: `r${r.id}`, errorCode: 'network_error' }));
      expect(await settled('sms-simulator', `${pmid}:failed`)).toBe('processed');
      expect(await recipientState(r.id)).toMatchObject({ status: 'failed', error_code: 'network_error', provider_message_id: pmid });
    });

    it('one by one too, a delivered report settles an unknown recipient once and charges its segments once', async () => {
      const r = await recipient({ status: 'unknown', providerMessageId: null });
      await grantCredits(env.db, r.shopId, 5);
      const pmid = rid('msg');
      // Stored without a job: the per-event handler runs here, twice (a replayed job).
      await recordWebhookEvent(env.db, { provider: 'sms-mitto', eventId: `${pmid}:delivered`, topic: 'status', payload: report(pmid, 'delivered', { reference: `r${r.id}` }) });
      const row = await webhookEvent(env.db, 'sms-mitto', `${pmid}:delivered`);
      expect(await processWebhookEvent(worker, row!.id, { final: false })).toBe('processed');
      expect(await recipientState(r.id)).toMatchObject({ status: 'delivered', provider_message_id: pmid, error_code: null });
      await env.db.$executeRaw`UPDATE webhook_events SET status = 'received' WHERE id = ${row!.id}::uuid`;
      expect(await processWebhookEvent(worker, row!.id, { final: false })).toBe('processed');
      const [w] = await env.db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${r.shopId}::uuid`;
      expect(Number(w!.balance)).toBe(4);
    });

    it('a report that beats the send settle waits for a later bulk pass and is applied once the recipient is sent', async () => {
      const r = await recipient({ status: 'sending', providerMessageId: null });
      const pmid = rid('msg');
      const eventId = `${pmid}:delivered`;
      await postSimulator(app, 'status', report(pmid, 'delivered', { reference: `r${r.id}` }));
      // Seen by a drain and left for a later one: no error, no job of its own.
      let early: ReportHolder | undefined;
      await waitFor('a first bulk pass', async () => {
        early = (await reportHolders(env.db, 'sms-simulator', eventId)).find((h) => h.status === 'received' && h.next_attempt_at !== null);
        return early !== undefined;
      });
      expect(early).toMatchObject({ status: 'received', attempts: 0, last_error: null });
      expect((await recipientState(r.id)).status).toBe('sending');

      // The send settles: sending → sent with the provider's id.
      await env.db.$executeRaw`
        UPDATE campaign_recipients SET status = 'sent', provider_message_id = ${pmid}, segments = 1, sent_at = now(), claim_token = NULL, lease_until = NULL
         WHERE id = ${r.id}::bigint`;
      expect(await settled('sms-simulator', eventId)).toBe('processed');
      expect((await recipientState(r.id)).status).toBe('delivered');
    });

    it('a report for an id that never settles is dropped after the last attempt, with a metric', async () => {
      const pmid = rid('msg');
      // Stored without a job, so no background attempt races the one run here.
      await recordWebhookEvent(env.db, { provider: 'sms-simulator', eventId: `${pmid}:delivered`, topic: 'status', payload: report(pmid, 'delivered') });
      const row = await webhookEvent(env.db, 'sms-simulator', `${pmid}:delivered`);
      expect(await processWebhookEvent(worker, row!.id, { final: false }).catch((e: Error) => e.name)).toBe('WebhookNotReadyError');
      expect(await webhookEvent(env.db, 'sms-simulator', `${pmid}:delivered`)).toMatchObject({ status: 'received', attempts: 1 });
      const metricsBefore = await counterValue(worker.metrics, 'webhookEvents', { source: 'sms-simulator', outcome: 'dropped' });
      // The job's last attempt, run directly rather than waiting minutes of backoff.
      expect(await processWebhookEvent(worker, row!.id, { final: true })).toBe('dropped');
      expect(await webhookEvent(env.db, 'sms-simulator', `${pmid}:delivered`)).toMatchObject({ status: 'dropped', attempts: 2 });
      expect((await counterValue(worker.metrics, 'webhookEvents', { source: 'sms-simulator', outcome: 'dropped' })) - metricsBefore).toBe(1);
    });

    it('refuses a bad, stale or missing signature and a wrong Mitto token, storing nothing', async () => {
      const r = await recipient();
      const body = report(r.providerMessageId!, 'delivered');
      const before = await tableFingerprints(env.db);
      const results = await Promise.all([
        postSimulator(app, 'status', body, { secret: 'not-the-secret' }),
        postSimulator(app, 'status', body, { t: Math.floor(Date.now() / 1000) - 301 }),
        postSimulator(app, 'status', body, { signature: null }),
        request(app).post('/webhooks/sms/mitto/status?token=wrong').set('Content-Type', 'application/json').send(JSON.stringify(body)),
        request(app).post('/webhooks/sms/mitto/status').set('Content-Type', 'application/json').send(JSON.stringify(body)),
      ]);
      for (const res of results) {
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('INVALID_SIGNATURE');
      }
      expect(await tableFingerprints(env.db)).toEqual(before);
      expect(await counterValue(api.metrics, 'webhookEvents', { outcome: 'invalid_signature' })).toBeGreaterThanOrEqual(5);
    });

    it('accepts Mitto reports carrying the secret token; an unknown provider is 404', async () => {
      const r = await recipient();
      const body = JSON.stringify(report(r.providerMessageId!, 'delivered'));
      const ok = await request(app)
        .post(`/webhooks/sms/mitto/status?token=${encodeURIComponent(env.config.SMS_WEBHOOK_SECRET)}`)
        .set('Content-Type', 'application/json')
        .send(body);
      expect(ok.status).toBe(200);
      expect(await settled('sms-mitto', `${r.providerMessageId}:delivered`)).toBe('processed');
      expect((await recipientState(r.id)).status).toBe('delivered');
      expect((await request(app).post('/webhooks/sms/acme/status').send(body)).status).toBe(404);
    });

    it('a signed body that is not a report is 400', async () => {
      const res = await postSimulator(app, 'status', { id: 'x', status: 'exploded' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    });

    it('a signed body with text Postgres cannot store (NUL, an unpaired surrogate) is 400 and stores nothing, single, batched or inbound', async () => {
      const before = Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events`)[0]!.n);
      const bodies: ['status' | 'inbound', string][] = [
        ['status', '{"id":"m\\u0000x","status":"delivered"}'],
        ['status', '{"reports":[{"id":"m1","status":"delivered"},{"id":"m2","reference":"r\\ud800","status":"delivered"}]}'],
        ['status', '{"id":"m3","status":"failed","timestamp":"\\udc00"}'],
        ['inbound', `{"id":"${rid('in')}","from":"+12025550123","to":"Marketing","text":"hi \\ud800"}`],
      ];
      for (const [kind, raw] of bodies) {
        const res = await postSimulator(app, kind, raw);
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('VALIDATION_FAILED');
      }
      expect(Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events`)[0]!.n)).toBe(before);
    });
  });

  describe('inbound texts', () => {
    const inbound = (from: string, to: string, text: string) => ({ id: rid('in'), from, to, text, timestamp: new Date().toISOString() });

    async function contactState(shopId: string, phone: string) {
      const [row] = await env.db.$queryRaw<{ sms_consent: string; opted_out_at: Date | null; opt_out_source: string | null; phone_e164: string | null }[]>`
        SELECT sms_consent, opted_out_at, opt_out_source, phone_e164 FROM contacts WHERE shop_id = ${shopId}::uuid AND phone_hash = ${phoneHash(phone)}`;
      return row;
    }

    async function suppressions(phone: string) {
      return env.db.$queryRaw<{ scope: string; shop_id: string | null }[]>`
        SELECT scope, shop_id FROM sms_suppressions WHERE phone_hmac = ${phoneHmac(env.config.PHONE_HASH_KEY, phone)} ORDER BY scope`;
    }

    it('STOP to an owned sender opts the number out of its owner only, before the 200; START opts back in', async () => {
      const sender = `1202${String(Date.now()).slice(-7)}`;
      const owner = await createShop(env.db, { senderId: sender });
      const other = await createShop(env.db);
      const phone = testPhone();
      await createContact(env.db, owner.id, { phone });
      await createContact(env.db, other.id, { phone });

      const stop = inbound(phone, sender, '  stop ');
      expect((await postSimulator(app, 'inbound', stop)).body).toEqual({ received: true });
      // No waiting: the opt-out is in force when the provider gets its answer.
      expect(await contactState(owner.id, phone)).toMatchObject({ sms_consent: 'unsubscribed', opt_out_source: 'keyword', phone_e164: phone });
      expect((await contactState(owner.id, phone))!.opted_out_at).toBeInstanceOf(Date);
      expect(await contactState(other.id, phone)).toMatchObject({ sms_consent: 'subscribed', opted_out_at: null });
      expect(await suppressions(phone)).toEqual([{ scope: `shop:${owner.id}`, shop_id: owner.id }]);
      expect((await webhookEvent(env.db, 'sms-simulator', `inbound:${stop.id}`))?.status).toBe('processed');

      // The owner's text: kept with the owner, where its privacy export and erasure find it.
      const stored = await env.db.$queryRaw<{ shop_id: string; keyword: string; from_hash: string; from_phone: string | null; text: string }[]>`
        SELECT shop_id, keyword, from_hash, from_phone, text FROM inbound_messages WHERE provider_message_id = ${stop.id}`;
      expect(stored).toEqual([{ shop_id: owner.id, keyword: 'STOP', from_hash: phoneHash(phone), from_phone: phone, text: '  stop ' }]);

      expect((await postSimulator(app, 'inbound', stop)).body).toEqual({ duplicate: true });

      // A provider may report a numeric sender in E.164: the same sender.
      await postSimulator(app, 'inbound', inbound(phone, `+${sender}`, 'Start'));
      expect(await contactState(owner.id, phone)).toMatchObject({ sms_consent: 'subscribed', opted_out_at: null, opt_out_source: null });
      expect(await suppressions(phone)).toEqual([]);
    });

    it('STOP to a shared sender opts out the shops that hold the number, adds it to none, and binds the sender', async () => {
      const sender = `S${rid('x').slice(2, 10)}`;
      const a = await createShop(env.db, { senderId: sender, ownsSender: false });
      const b = await createShop(env.db, { senderId: sender, ownsSender: false });
      const phone = testPhone();
      await createContact(env.db, a.id, { phone });

      const stop = inbound(phone, sender, 'STOP');
      expect((await postSimulator(app, 'inbound', stop)).body).toEqual({ received: true });
      expect(await contactState(a.id, phone)).toMatchObject({ sms_consent: 'unsubscribed', opt_out_source: 'keyword' });
      // Not a contact of b: b gains nothing; the sender-wide suppression binds it at send time.
      expect(await contactState(b.id, phone)).toBeUndefined();
      expect(await suppressions(phone)).toEqual([{ scope: `sender:${sender.toLowerCase()}`, shop_id: null }]);
      // Stored once, for no shop, without number or text.
      const stored = await env.db.$queryRaw<{ shop_id: string | null; keyword: string; from_phone: string | null; text: string | null }[]>`
        SELECT shop_id, keyword, from_phone, text FROM inbound_messages WHERE provider_message_id = ${stop.id}`;
      expect(stored).toEqual([{ shop_id: null, keyword: 'STOP', from_phone: null, text: null }]);

      // START lifts the sender's suppression and the keyword opt-outs it made; it subscribes nobody else.
      const pending = testPhone();
      await createContact(env.db, b.id, { phone: pending, consent: 'pending' });
      await postSimulator(app, 'inbound', inbound(phone, sender, 'START'));
      await postSimulator(app, 'inbound', inbound(pending, sender, 'START'));
      expect(await contactState(a.id, phone)).toMatchObject({ sms_consent: 'subscribed', opted_out_at: null });
      expect(await suppressions(phone)).toEqual([]);
      expect(await contactState(b.id, pending)).toMatchObject({ sms_consent: 'pending' });
    });

    it('STOP to a number no shop sends as binds every send', async () => {
      const phone = testPhone();
      const shop = await createShop(env.db);
      await createContact(env.db, shop.id, { phone });
      await postSimulator(app, 'inbound', inbound(phone, `1999${String(Date.now()).slice(-7)}`, 'STOP'));
      expect(await suppressions(phone)).toEqual([{ scope: 'all', shop_id: null }]);
      // Contacts are left as they are (no shop is named); the send-time check skips the number everywhere.
      expect(await contactState(shop.id, phone)).toMatchObject({ sms_consent: 'subscribed' });
    });

    it('every STOP-family word opts out, HELP and ordinary replies are only recorded', async () => {
      const sender = `S${rid('x').slice(2, 10)}`;
      const shop = await createShop(env.db, { senderId: sender });
      for (const word of ['STOPALL', 'unsubscribe', 'Cancel', 'end', 'QUIT.', 'stop']) {
        const phone = testPhone();
        await createContact(env.db, shop.id, { phone });
        await postSimulator(app, 'inbound', inbound(phone, sender, word));
        expect((await contactState(shop.id, phone))?.opt_out_source).toBe('keyword');
      }
      for (const text of ['HELP', 'stop sending me deals please', 'yes?']) {
        const phone = testPhone();
        await createContact(env.db, shop.id, { phone });
        const msg = inbound(phone, sender, text);
        await postSimulator(app, 'inbound', msg);
        expect(await contactState(shop.id, phone)).toMatchObject({ sms_consent: 'subscribed', opted_out_at: null });
        const [row] = await env.db.$queryRaw<{ keyword: string | null }[]>`SELECT keyword FROM inbound_messages WHERE provider_message_id = ${msg.id}`;
        expect(row!.keyword).toBe(text === 'HELP' ? 'HELP' : null);
      }
    });

    it('a keyword in full-width, with zero-width characters or decorated (emoji, quotes) counts: STOP always, START and HELP alike but never a START with a question', async () => {
      const sender = `S${rid('x').slice(2, 10)}`;
      const shop = await createShop(env.db, { senderId: sender });
      const stops = ['ＳＴＯＰ', 'ｓｔｏｐ', 'STOP🙏', '🛑 Stop', '"STOP"', '(Cancel)', 'S\u200bTOP', '\u200bstop\u200d', 'Stop\u2060.', '\u00adEND', 'ＵＮＳＵＢＳＣＲＩＢＥ', 'ｏｐｔ－ｏｕｔ', 'STOP❤️', 'STOP 👍🏽', 'Ｓｔｏｐ！'];
      for (const text of stops) {
        const phone = testPhone();
        await createContact(env.db, shop.id, { phone });
        const msg = inbound(phone, sender, text);
        await postSimulator(app, 'inbound', msg);
        expect([text, (await contactState(shop.id, phone))?.opt_out_source]).toEqual([text, 'keyword']);
        const [row] = await env.db.$queryRaw<{ keyword: string | null }[]>`SELECT keyword FROM inbound_messages WHERE provider_message_id = ${msg.id}`;
        expect([text, row!.keyword]).toEqual([text, 'STOP']);
      }
      for (const text of ['ＳＴＡＲＴ', 'Ｙｅｓ', 'st\u200bart', 'UNSTOP\u200b!', '\uFEFFstart']) {
        const phone = testPhone();
        await createContact(env.db, shop.id, { phone });
        await postSimulator(app, 'inbound', { ...inbound(phone, sender, 'STOP'), timestamp: new Date(Date.now() - 60_000).toISOString() });
        await postSimulator(app, 'inbound', inbound(phone, sender, text));
        expect([text, await contactState(shop.id, phone)]).toMatchObject([text, { sms_consent: 'subscribed', opted_out_at: null }]);
      }
      // A sentence, or an opt-in with a question, is still a reply: nobody is opted out or back in by it.
      for (const text of ['ｓｔｏｐ ｉｔ ｐｌｅａｓｅ', 'stop\u200b sending me deals', 'ＳＴＡＲＴ？', 'yes\u200b?']) {
        const phone = testPhone();
        await createContact(env.db, shop.id, { phone, consent: 'pending' });
        const msg = inbound(phone, sender, text);
        await postSimulator(app, 'inbound', msg);
        expect([text, await contactState(shop.id, phone)]).toMatchObject([text, { sms_consent: 'pending', opted_out_at: null }]);
        const [row] = await env.db.$queryRaw<{ keyword: string | null }[]>`SELECT keyword FROM inbound_messages WHERE provider_message_id = ${msg.id}`;
        expect([text, row!.keyword]).toEqual([text, null]);
      }
      for (const text of ['ＨＥＬＰ', 'ｉｎｆｏ', 'he\u200blp.']) {
        const msg = inbound(testPhone(), sender, text);
        await postSimulator(app, 'inbound', msg);
        const [row] = await env.db.$queryRaw<{ keyword: string | null }[]>`SELECT keyword FROM inbound_messages WHERE provider_message_id = ${msg.id}`;
        expect([text, row!.keyword]).toEqual([text, 'HELP']);
      }
    });

    it('a START older than the opt-out does not clear it', async () => {
      const sender = `S${rid('x').slice(2, 10)}`;
      const shop = await createShop(env.db, { senderId: sender });
      const phone = testPhone();
      await createContact(env.db, shop.id, { phone });
      const start = { ...inbound(phone, sender, 'START'), timestamp: new Date(Date.now() - 60_000).toISOString() };
      await postSimulator(app, 'inbound', inbound(phone, sender, 'STOP'));
      await postSimulator(app, 'inbound', start);
      expect((await contactState(shop.id, phone))?.opt_out_source).toBe('keyword');
    });

    it('an inbound event payload keeps no number or text once applied', async () => {
      const sender = `S${rid('x').slice(2, 10)}`;
      await createShop(env.db, { senderId: sender });
      const phone = testPhone();
      const msg = inbound(phone, sender, 'hello there');
      await postSimulator(app, 'inbound', msg);
      const [row] = await env.db.$queryRaw<{ payload: Record<string, unknown> }[]>`
        SELECT payload FROM webhook_events WHERE provider = 'sms-simulator' AND event_id = ${`inbound:${msg.id}`}`;
      expect(JSON.stringify(row!.payload)).not.toContain(phone);
      expect(JSON.stringify(row!.payload)).not.toContain('hello there');
      expect(row!.payload).toMatchObject({ minimized: true, fromHash: phoneHash(phone) });
    });
  });
});
