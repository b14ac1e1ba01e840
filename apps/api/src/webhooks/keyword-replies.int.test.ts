import type { Express } from 'express';
import request from 'supertest';
import type { SimulatorHandle } from '../../../sms-simulator/src/simulator';
import { sendKeywordReply } from '../../../../domain/compliance/send-keyword-reply';
import { eraseContact } from '../../../../domain/contacts/erase-contact';
import { exportCustomerData } from '../../../../domain/privacy/export-customer-data';
import { keywordReplyAad } from '../../../../domain/compliance/record-keyword-reply';
import { repairKeywordReplies } from '../../../../domain/compliance/repair-keyword-replies';
import { processWebhookEvent } from '../../../../domain/webhooks/process-event';
import { recordWebhookEvent } from '../../../../domain/webhooks/record-event';
import { shopTokenCipher } from '../../../../domain/shops/access-token/token-cipher';
import { phoneHash } from '../../../../domain/contacts/phone';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createContact, createShop, testPhone } from '../../../../test/factories';
import { SIM_API_KEY, simulatorProvider, startSimulator, waitFor } from '../../../../test/sending';
import { counterValue, postSimulator, rid, webhookEvent } from '../../../../test/webhooks';
import { sessionToken } from '../../../../test/session-token';
import { tableFingerprints } from '../../../../test/table-fingerprints';
import type { WorkerDeps } from '../../../worker/src/deps';

// STOP / START / HELP confirmations end to end: the signed inbound webhook on
// the api, the outbox, the keyword.reply.v1 job on a real worker, the
// simulator as the provider.

interface ReplyRow {
  id: string;
  shop_id: string | null;
  keyword: string;
  status: string;
  error_code: string | null;
  body: string;
  sender: string;
  to_phone_sealed: string | null;
  provider_message_id: string | null;
  segments: number | null;
}

describe('keyword replies', () => {
  let env: TestEnv;
  let sim: SimulatorHandle;
  let app: Express;
  let url: string;
  let worker: WorkerDeps;

  beforeAll(async () => {
    ({ sim, url } = await startSimulator());
    env = await createTestEnv({ SMS_PROVIDER: 'simulator', SMS_PROVIDER_URL: url, SMS_PROVIDER_API_KEY: SIM_API_KEY });
    ({ app } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks', 'sends', 'maintenance'] }));
  });
  afterAll(async () => {
    await env.close();
    await sim.stop();
  });

  const inbound = (from: string, to: string, text: string, id = rid('in')) => ({ id, from, to, text, timestamp: new Date().toISOString() });
  const ownedSender = () => `1202${String(Date.now()).slice(-7)}`;

  async function replyFor(inboundId: string): Promise<ReplyRow | undefined> {
    const [row] = await env.db.$queryRaw<ReplyRow[]>`
      SELECT id::text, shop_id, keyword, status, error_code, body, sender, to_phone_sealed, provider_message_id, segments
        FROM keyword_replies WHERE inbound_message_id = ${inboundId}`;
    return row;
  }
  async function settledReply(inboundId: string): Promise<ReplyRow> {
    let row: ReplyRow | undefined;
    await waitFor(`reply to ${inboundId} final`, async () => {
      row = await replyFor(inboundId);
      return row !== undefined && row.status !== 'pending' && row.status !== 'sending';
    });
    return row!;
  }
  async function repliesTo(inboundIds: string[]): Promise<number> {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM keyword_replies WHERE inbound_message_id = ANY(${inboundIds}::text[])`;
    return r!.n;
  }
  async function shopCounts(shopId: string) {
    const [s] = await env.db.$queryRaw<{ sent: number; segments: number }[]>`
      SELECT keyword_replies_sent AS sent, keyword_reply_segments AS segments FROM shops WHERE id = ${shopId}::uuid`;
    return s!;
  }
  async function wallet(shopId: string) {
    const [w] = await env.db.$queryRaw<{ balance: bigint; rows: number }[]>`
      SELECT w.balance, (SELECT count(*)::int FROM credit_transactions t WHERE t.shop_id = w.shop_id) AS rows FROM credit_wallets w WHERE w.shop_id = ${shopId}::uuid`;
    return { balance: Number(w!.balance), rows: w!.rows };
  }

  it('STOP, START and HELP are each confirmed once, even when the webhook comes three times; never charged, counted apart', async () => {
    const sender = ownedSender();
    const shop = await createShop(env.db, { senderId: sender, credits: 100 });
    await env.db.$executeRaw`UPDATE shops SET name = 'Acme Outdoor' WHERE id = ${shop.id}::uuid`;
    const phone = testPhone();
    await createContact(env.db, shop.id, { phone });
    const before = await wallet(shop.id);
    const sentBefore = await counterValue(worker.metrics, 'keywordReplies', { outcome: 'sent' });
    const segmentsBefore = await counterValue(worker.metrics, 'keywordReplySegments');

    const texts = { STOP: 'Stop', START: 'unstop', HELP: 'INFO' } as const;
    const rows: Record<string, ReplyRow> = {};
    for (const [keyword, text] of Object.entries(texts)) {
      const msg = inbound(phone, sender, text);
      // Three deliveries of the same text: two at once, then a late retry.
      const answers = await Promise.all([postSimulator(app, 'inbound', msg), postSimulator(app, 'inbound', msg)]);
      answers.push(await postSimulator(app, 'inbound', msg));
      for (const a of answers) expect(a.status).toBe(200);
      const row = await settledReply(msg.id);
      expect(row).toMatchObject({ shop_id: shop.id, keyword, status: 'sent', sender, to_phone_sealed: null, error_code: null, segments: 1 });
      expect(await repliesTo([msg.id])).toBe(1);
      // The provider got it exactly once, under our `k` reference, from the shop's sender.
      expect(sim.referenceStats(`k${row.id}`)).toMatchObject({ sends: 1, duplicates: 0, providerId: row.provider_message_id });
      rows[keyword] = row;
    }
    expect(rows.STOP!.body).toBe('Acme Outdoor: You are unsubscribed and will receive no more messages. Reply START to resubscribe.');
    for (const k of ['START', 'HELP']) {
      expect(rows[k]!.body).toContain('Acme Outdoor');
      expect(rows[k]!.body).toContain('Reply STOP to unsubscribe');
      expect(rows[k]!.body).toContain('Msg & data rates may apply');
    }
    expect(rows.HELP!.body).toContain(`https://${shop.domain}`);

    // A replayed job sends nothing more.
    const provider = simulatorProvider(url);
    expect(await sendKeywordReply({ db: env.db, provider, now: () => new Date(), leaseMs: 60_000, cipher: shopTokenCipher(env.config) }, rows.HELP!.id)).toEqual({ outcome: 'done', status: 'sent' });
    provider.close();
    expect(sim.referenceStats(`k${rows.HELP!.id}`).sends).toBe(1);

    expect(await shopCounts(shop.id)).toEqual({ sent: 3, segments: 3 });
    // The customer's privacy export lists the confirmations they got.
    await env.db.$transaction((tx) => exportCustomerData(tx, { requestId: crypto.randomUUID(), shopId: shop.id, customer: { shopifyCustomerId: null, email: null, phone } }));
    const [exported] = await env.db.$queryRaw<{ data: { keywordReplies: { keyword: string; status: string; text: string }[] } }[]>`
      SELECT data FROM privacy_requests WHERE shop_id = ${shop.id}::uuid`;
    expect(exported!.data.keywordReplies.map((k) => [k.keyword, k.status])).toEqual([['STOP', 'sent'], ['START', 'sent'], ['HELP', 'sent']]);
    expect(await wallet(shop.id)).toEqual(before);
    expect((await counterValue(worker.metrics, 'keywordReplies', { outcome: 'sent' })) - sentBefore).toBe(3);
    expect((await counterValue(worker.metrics, 'keywordReplySegments')) - segmentsBefore).toBe(3);
  });

  it('no reply where a stronger opt-out holds: a number opted out everywhere, or erased from the shop', async () => {
    const sender = ownedSender();
    const shop = await createShop(env.db, { senderId: sender });

    // Opted out of every sender (a STOP to a number no shop sends as: the carrier's).
    // That STOP is itself confirmed: it is the one message an opt-out allows.
    const everywhere = testPhone();
    await createContact(env.db, shop.id, { phone: everywhere });
    const carrierStop = inbound(everywhere, `1999${String(Date.now()).slice(-7)}`, 'STOP');
    await postSimulator(app, 'inbound', carrierStop);
    expect(await settledReply(carrierStop.id)).toMatchObject({ shop_id: null, status: 'sent' });
    for (const text of ['HELP', 'STOP', 'START']) {
      const msg = inbound(everywhere, sender, text);
      await postSimulator(app, 'inbound', msg);
      const row = await settledReply(msg.id);
      expect(row).toMatchObject({ status: 'suppressed', error_code: 'wider_opt_out', to_phone_sealed: null });
      expect(sim.referenceStats(`k${row.id}`).sends).toBe(0);
    }

    // Erased from the shop (its tombstone keeps the hash): no HELP answer, no START or STOP one either.
    const erased = testPhone();
    const contact = await createContact(env.db, shop.id, { phone: erased });
    await env.db.$executeRaw`
      UPDATE contacts SET phone_e164 = NULL, email = NULL, first_name = NULL, last_name = NULL, erased_at = now() WHERE id = ${contact.id}::uuid`;
    for (const text of ['HELP', 'STOP']) {
      const msg = inbound(erased, sender, text);
      await postSimulator(app, 'inbound', msg);
      const row = await settledReply(msg.id);
      expect(row).toMatchObject({ status: 'suppressed', error_code: 'erased', to_phone_sealed: null });
      expect(sim.referenceStats(`k${row.id}`).sends).toBe(0);
    }
    expect(await shopCounts(shop.id)).toEqual({ sent: 0, segments: 0 });
  });

  it("STOP then HELP from the shop's own opt-out: both answered (HELP regardless of subscription); a START older than the STOP is not", async () => {
    const sender = ownedSender();
    const shop = await createShop(env.db, { senderId: sender });
    const phone = testPhone();
    await createContact(env.db, shop.id, { phone });
    const stop = inbound(phone, sender, 'STOP');
    await postSimulator(app, 'inbound', stop);
    expect(await settledReply(stop.id)).toMatchObject({ status: 'sent' });
    const help = inbound(phone, sender, 'help');
    await postSimulator(app, 'inbound', help);
    expect(await settledReply(help.id)).toMatchObject({ status: 'sent', keyword: 'HELP' });
    // A START sent (by the handset's clock) before that STOP: the STOP wins, so no "you are subscribed".
    const lateStart = { ...inbound(phone, sender, 'START'), timestamp: new Date(Date.now() - 3_600_000).toISOString() };
    await postSimulator(app, 'inbound', lateStart);
    expect(await settledReply(lateStart.id)).toMatchObject({ status: 'suppressed', error_code: 'still_opted_out' });
    expect(await shopCounts(shop.id)).toEqual({ sent: 2, segments: 2 });
  });

  it("a reply's delivery report (bulk or one by one) settles the reply, a late one changes nothing, an unknown one is ignored, never retried", async () => {
    const sender = ownedSender();
    const shop = await createShop(env.db, { senderId: sender });
    const phone = testPhone();
    const help = inbound(phone, sender, 'HELP');
    await postSimulator(app, 'inbound', help);
    const row = await settledReply(help.id);
    expect(row.status).toBe('sent');

    await postSimulator(app, 'status', { id: row.provider_message_id, reference: `k${row.id}`, status: 'delivered', timestamp: new Date().toISOString() });
    await waitFor('reply delivered', async () => (await replyFor(help.id))?.status === 'delivered');
    const event = await webhookEvent(env.db, 'sms-simulator', `${row.provider_message_id}:delivered`);
    expect(event).toMatchObject({ status: 'processed', shop_id: shop.id });

    // One by one (the per-event handler: a report's own job), a failed report after it changes nothing.
    await recordWebhookEvent(env.db, { provider: 'sms-mitto', eventId: `${row.provider_message_id}:failed`, topic: 'status', payload: { id: row.provider_message_id, reference: `k${row.id}`, status: 'failed' } });
    const late = await webhookEvent(env.db, 'sms-mitto', `${row.provider_message_id}:failed`);
    expect(await processWebhookEvent(worker, late!.id, { final: false })).toBe('ignored');
    expect((await replyFor(help.id))?.status).toBe('delivered');
    const other = inbound(testPhone(), sender, 'HELP');
    await postSimulator(app, 'inbound', other);
    const second = await settledReply(other.id);
    await recordWebhookEvent(env.db, { provider: 'sms-mitto', eventId: `${second.provider_message_id}:failed`, topic: 'status', payload: { id: second.provider_message_id, reference: `k${second.id}`, status: 'failed', errorCode: 'absent_subscriber' } });
    const own = await webhookEvent(env.db, 'sms-mitto', `${second.provider_message_id}:failed`);
    expect(await processWebhookEvent(worker, own!.id, { final: false })).toBe('processed');
    expect(await replyFor(other.id)).toMatchObject({ status: 'failed', error_code: 'absent_subscriber' });

    const stray = rid('msg');
    await postSimulator(app, 'status', { id: stray, reference: 'k999999999', status: 'failed', errorCode: 'absent', timestamp: new Date().toISOString() });
    await waitFor('stray reply report closed', async () => (await webhookEvent(env.db, 'sms-simulator', `${stray}:failed`))?.status === 'ignored');
    expect((await webhookEvent(env.db, 'sms-simulator', `${stray}:failed`))?.last_error).toBeNull();
  });

  it('a shop words its own texts within what carriers require (GET/PATCH /api/shop/keyword-replies); the next reply uses them', async () => {
    const sender = ownedSender();
    const shop = await createShop(env.db, { senderId: sender });
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const get = () => request(app).get('/api/shop/keyword-replies').set('Authorization', auth);
    const patch = (body: object) => request(app).patch('/api/shop/keyword-replies').set('Authorization', auth).send(body);

    const initial = await get();
    expect(initial.status).toBe(200);
    expect(initial.body).toMatchObject({ stop: { custom: false }, start: { custom: false }, help: { custom: false }, sent: 0, segments: 0 });
    expect(initial.body.help.text).toContain('Msg & data rates may apply');

    // A HELP text without the opt-out instruction or the rates notice: 400, nothing written.
    const before = await tableFingerprints(env.db);
    const bad = await patch({ help: '{{shopName}}: call us on 555-0100.', stop: '{{shopName}}: bye' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect(bad.body.error.details).toEqual(
      expect.arrayContaining([
        { path: 'help', message: 'must say how to opt out: "Reply STOP to unsubscribe"' },
        { path: 'help', message: 'must say "Msg & data rates may apply"' },
        { path: 'stop', message: 'must confirm the opt-out (e.g. "You are unsubscribed and will receive no more messages")' },
      ]),
    );
    expect(await tableFingerprints(env.db)).toEqual(before);

    const help = '{{shopName}} support: help@acme.example or {{shopUrl}}. Msg & data rates may apply. Reply STOP to unsubscribe.';
    const ok = await patch({ help });
    expect(ok.status).toBe(200);
    expect(ok.body.help).toEqual({ text: help, custom: true });
    expect(ok.body.stop.custom).toBe(false);

    const msg = inbound(testPhone(), sender, 'HELP');
    await postSimulator(app, 'inbound', msg);
    const row = await settledReply(msg.id);
    const handle = shop.domain.replace(/\.myshopify\.com$/, '');
    expect(row.body).toBe(`${handle} support: help@acme.example or https://${shop.domain}. Msg & data rates may apply. Reply STOP to unsubscribe.`);
    expect((await get()).body).toMatchObject({ sent: 1, segments: 1 });

    // null: back to the default.
    expect((await patch({ help: null })).body.help).toEqual({ text: initial.body.help.text, custom: false });
  });

  it('erasing the contact stops a reply not yet sent and drops the number it kept', async () => {
    const shop = await createShop(env.db, { senderId: ownedSender() });
    const phone = testPhone();
    const contact = await createContact(env.db, shop.id, { phone });
    // As the inbound transaction leaves it, before its job ran.
    const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO keyword_replies (provider, inbound_message_id, shop_id, keyword, scope, sender, to_phone_sealed, to_hash, to_hmac, body)
      VALUES ('simulator', ${rid('in')}, ${shop.id}::uuid, 'HELP', ${`shop:${shop.id}`}, '15550000000', 'sealed', ${phoneHash(phone)}, 'hmac', 'help text')
      RETURNING id`;
    await eraseContact(env.db, shop.id, contact.id);
    const [after] = await env.db.$queryRaw<{ status: string; error_code: string; to_phone_sealed: string | null }[]>`
      SELECT status, error_code, to_phone_sealed FROM keyword_replies WHERE id = ${row!.id}`;
    expect(after).toEqual({ status: 'suppressed', error_code: 'erased', to_phone_sealed: null });
  });

  it('reconciliation gives a reply left without its job the job back, and gives up on one an hour old', async () => {
    const shop = await createShop(env.db, { senderId: ownedSender() });
    const cipher = shopTokenCipher(env.config);
    // Written by an inbound transaction whose outbox event was lost (Redis flushed after publishing).
    const insert = async (ageMs: number) => {
      const inboundId = rid('in');
      const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
        INSERT INTO keyword_replies (provider, inbound_message_id, shop_id, keyword, scope, sender, to_phone_sealed, to_hash, to_hmac, body, created_at)
        VALUES ('simulator', ${inboundId}, ${shop.id}::uuid, 'HELP', ${`shop:${shop.id}`}, '15550000001',
                ${cipher.encrypt(testPhone(), keywordReplyAad('simulator', inboundId))}, 'hash', 'hmac', 'Acme: Msg & data rates may apply. Reply STOP to unsubscribe.',
                ${new Date(Date.now() - ageMs)})
        RETURNING id`;
      return { id: String(row!.id), inboundId };
    };
    const lost = await insert(2 * 60_000);
    const stale = await insert(2 * 3_600_000);
    const fresh = await insert(0);
    const result = await repairKeywordReplies({ db: env.db, queues: worker.queues }, { now: new Date(), limit: 100 });
    expect(result).toMatchObject({ expired: 1 });
    expect(result.requeued).toBeGreaterThanOrEqual(1);
    expect(await settledReply(lost.inboundId)).toMatchObject({ status: 'sent' });
    expect(await replyFor(stale.inboundId)).toMatchObject({ status: 'failed', error_code: 'expired', to_phone_sealed: null });
    // Too young to be called lost: left to its own job.
    expect((await replyFor(fresh.inboundId))?.status).toBe('pending');
    expect(sim.referenceStats(`k${stale.id}`).sends).toBe(0);
  });
});
