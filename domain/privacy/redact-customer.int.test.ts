import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { phoneHash } from '../contacts/phone';
import { importContacts } from '../contacts/import-contacts';
import { createContactImport, createShop, testPhone } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { waitFor } from '../../test/sending';
import { rid } from '../../test/webhooks';
import { redactCustomer } from './redact-customer';
import type { CustomerRef } from './customer-ref';
import { recordWebhookEvent } from '../webhooks/record-event';
import { processWebhookEvent } from '../webhooks/process-event';
import { skipSuppressed, suppressedNumbers } from '../compliance/suppressions';
import { createContact as createContactByApi } from '../contacts/create-contact';
import { syncShopifyCustomer } from '../contacts/sync-shopify-customer';
import { lockShopifyCustomer } from '../orders/customer-lock';
import { lockBuyerPhones } from '../orders/buyer-phone-lock';

// customers/redact against the contact import, which stages the customer's
// rows before it applies them chunk by chunk: whatever the interleaving, the
// import must not bring the customer back.

const t = useTestEnv();

async function waitsOnLock(pid: number): Promise<boolean> {
  const rows = await t.env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ${pid}::int AND wait_event_type = 'Lock'`;
  return Number(rows[0]!.n) > 0;
}

/**
 * Starts customers/redact for `customer` in its own transaction and returns
 * once it has either ended (the defect: it went ahead of a writer still in
 * flight) or waits on a lock (it waits for that writer); the promise is the
 * redact's outcome (wrapped: awaiting it here would wait for the writer).
 */
async function redactBehindWriter(shopId: string, customer: CustomerRef, onEnd?: () => void): Promise<{ redacting: Promise<unknown> }> {
  let redactPid: number | undefined;
  let redactSettled = false;
  const redacting = t.env.db
    .$transaction(async (tx) => {
      redactPid = (await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
      return redactCustomer(tx, { requestId: randomUUID(), shopId, customer, eventRowId: randomUUID(), phoneHashKey: t.env.config.PHONE_HASH_KEY });
    })
    .finally(() => {
      redactSettled = true;
      onEnd?.();
    });
  await waitFor('the redact ended or waits on a lock', async () => redactSettled || (redactPid !== undefined && (await waitsOnLock(redactPid))));
  return { redacting };
}

it('an import chunk in flight when customers/redact comes does not re-create the customer: the redact erases what it wrote and the later chunks read the scrubbed rows', async () => {
  const shop = await createShop(t.env.db);
  const phone = testPhone();
  const email = `${rid('racer')}@example.test`;
  const bystander = testPhone();
  const imp = await createContactImport(t.env.db, shop.id, {
    rows: [
      { phone, email, firstName: 'Racer', lastName: 'Person', smsConsent: 'subscribed' },
      { phone, firstName: 'Racer', tags: ['again'] },
      { phone: bystander, firstName: 'Bystander' },
    ],
  });

  // Holds the first chunk inside its transaction (it has read its rows) at its upsert, which waits on this uncommitted insert of the number.
  const blocker = new Client({ connectionString: t.env.config.DATABASE_URL });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query(`INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent) VALUES ($1, $2, $3, 'pending')`, [shop.id, phone, phoneHash(phone)]);
  // Postgres does not queue the redact ahead of the next chunk for the import's row (the first chunk updated it, so the
  // redact wakes on the row's new version, which the next chunk may lock first): the next chunk starts once the redact
  // ended, so that it reads what the redact left whatever the scheduling.
  let redactEnded: () => void = () => undefined;
  const redactDone = new Promise<void>((resolve) => {
    redactEnded = resolve;
  });
  const importing = importContacts(t.env.db, {
    importId: imp.id,
    chunkSize: 1,
    onProgress: async ({ processed }) => {
      if (processed === 1) await redactDone;
    },
  });
  await waitFor('the first chunk waits at its upsert', async () => {
    const rows = await t.env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO contacts%'`;
    return Number(rows[0]!.n) > 0;
  });

  // Either the redact went ahead of the chunk (the defect) or it waits for the chunk to commit.
  const { redacting } = await redactBehindWriter(shop.id, { shopifyCustomerId: '42', email, phone }, redactEnded);
  await blocker.query('ROLLBACK');
  await blocker.end();
  await Promise.all([redacting, importing]);

  const left = await t.env.db.$queryRaw<{ phone_e164: string | null; email: string | null; first_name: string | null; tags: string[]; sms_consent: string; erased_at: Date | null }[]>`
    SELECT phone_e164, email, first_name, tags, sms_consent, erased_at FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
  expect(left).toEqual([{ phone_e164: null, email: null, first_name: null, tags: [], sms_consent: 'pending', erased_at: expect.any(Date) }]);
  const rejections = await t.env.db.$queryRaw<{ row_index: number; message: string }[]>`
    SELECT row_index, message FROM contact_import_rejections WHERE import_id = ${imp.id}::uuid ORDER BY row_index`;
  expect(rejections).toEqual([{ row_index: 1, message: "row: removed at the customer's request" }]);
  const [other] = await t.env.db.$queryRaw<{ first_name: string | null }[]>`
    SELECT first_name FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${phoneHash(bystander)}`;
  expect(other).toEqual({ first_name: 'Bystander' });
});

it('scrubs staged import rows holding the customer\'s number as typed (national format, punctuation, the row\'s own country, a bare number), and no one else\'s', async () => {
  const shop = await createShop(t.env.db);
  const phone = testPhone(); // +1973NXXXXXX
  const [area, exchange, line] = [phone.slice(2, 5), phone.slice(5, 8), phone.slice(8)];
  const uk = '+447911123456';
  const imp = await createContactImport(t.env.db, shop.id, {
    defaultCountry: 'US',
    rows: [
      { phone: `(${area}) ${exchange}-${line}`, firstName: 'Typed' },
      { phone: `${area}-${exchange}-${line}` },
      { phone: `+1 ${area} ${exchange} ${line}` },
      { phone: `001 ${area}.${exchange}.${line}`, lastName: 'Dialled' },
      { phone: Number(`${area}${exchange}${line}`) },
      { phone: '07911 123456', country: 'gb', firstName: 'Abroad' },
      // Same last digits, another number: kept.
      { phone: `(201) ${exchange}-${line}`, firstName: 'Neighbour' },
      { phone: '07911 123456', firstName: 'US reading' },
    ],
  });

  await t.env.db.$transaction((tx) =>
    redactCustomer(tx, { requestId: randomUUID(), shopId: shop.id, customer: { shopifyCustomerId: null, email: null, phone }, eventRowId: randomUUID(), phoneHashKey: t.env.config.PHONE_HASH_KEY }),
  );
  await t.env.db.$transaction((tx) =>
    redactCustomer(tx, { requestId: randomUUID(), shopId: shop.id, customer: { shopifyCustomerId: null, email: null, phone: uk }, eventRowId: randomUUID(), phoneHashKey: t.env.config.PHONE_HASH_KEY }),
  );

  const rows = await t.env.db.$queryRaw<{ row_index: number; data: unknown; problem: string | null }[]>`
    SELECT row_index, data, problem FROM contact_import_rows WHERE import_id = ${imp.id}::uuid ORDER BY row_index`;
  const removed = { data: null, problem: "row: removed at the customer's request" };
  expect(rows).toEqual([
    { row_index: 0, ...removed },
    { row_index: 1, ...removed },
    { row_index: 2, ...removed },
    { row_index: 3, ...removed },
    { row_index: 4, ...removed },
    { row_index: 5, ...removed },
    { row_index: 6, data: { phone: `(201) ${exchange}-${line}`, firstName: 'Neighbour' }, problem: null },
    // Under the import's default country US this is not the UK number (the import would refuse it).
    { row_index: 7, data: { phone: '07911 123456', firstName: 'US reading' }, problem: null },
  ]);
});

it('a customers/* webhook creating the customer\'s contact while customers/redact runs does not leave it behind: the redact waits for it and erases it', async () => {
  const shop = await createShop(t.env.db);
  const phone = testPhone();
  const customerId = String(Date.now());
  // The customers/create handler's transaction, held open after it wrote the contact (its locks, then the upsert).
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let written: () => void = () => undefined;
  const wroteContact = new Promise<void>((resolve) => {
    written = resolve;
  });
  const creating = t.env.db.$transaction(
    async (tx) => {
      await lockShopifyCustomer(tx, shop.id, customerId);
      await lockBuyerPhones(tx, shop.id, [phoneHash(phone)]);
      await syncShopifyCustomer(tx, {
        shopId: shop.id, customerId, phone, profile: { email: 'late@example.test', firstName: 'Late', lastName: 'Comer' }, consent: 'subscribed', updatedAt: new Date(),
      });
      written();
      await gate;
    },
    { timeout: 30_000 },
  );
  await wroteContact;

  // Either the redact went ahead of the uncommitted contact (the defect) or it waits for the webhook to commit.
  const { redacting } = await redactBehindWriter(shop.id, { shopifyCustomerId: customerId, email: null, phone });
  release();
  await Promise.all([creating, redacting]);

  const left = await t.env.db.$queryRaw<{ phone_e164: string | null; email: string | null; first_name: string | null; shopify_customer_id: string | null; erased_at: Date | null }[]>`
    SELECT phone_e164, email, first_name, shopify_customer_id, erased_at FROM contacts WHERE shop_id = ${shop.id}::uuid`;
  expect(left).toEqual([{ phone_e164: null, email: null, first_name: null, shopify_customer_id: null, erased_at: expect.any(Date) }]);
});

it('an inbound text from the customer\'s number being applied while customers/redact runs loses its number and text too', async () => {
  const shop = await createShop(t.env.db);
  const own = `Own${Date.now() % 1_000_000}`;
  await t.env.db.$executeRaw`UPDATE shops SET sender_id = ${own}, sender_owned = true WHERE id = ${shop.id}::uuid`;
  const phone = testPhone();
  const messageId = rid('in');
  const [event] = await t.env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, payload)
    VALUES ('sms-simulator', ${`inbound:${messageId}`}, 'inbound', ${JSON.stringify({ id: messageId, from: phone, to: own, text: 'Where is my order?', timestamp: new Date().toISOString() })}::jsonb)
    RETURNING id`;
  // The inbound handler's transaction (sms-inbound.ts), held after it stored the text and minimised its event, before it commits.
  const handler = new Client({ connectionString: t.env.config.DATABASE_URL });
  await handler.connect();
  await handler.query('BEGIN');
  await handler.query(
    `INSERT INTO inbound_messages (shop_id, provider, provider_message_id, from_phone, from_hash, to_number, text) VALUES ($1, 'simulator', $2, $3, $4, $5, 'Where is my order?')`,
    [shop.id, messageId, phone, phoneHash(phone), own],
  );
  await handler.query(`UPDATE webhook_events SET payload = jsonb_build_object('minimized', true, 'id', $2::text), status = 'processed', processed_at = now() WHERE id = $1`, [event!.id, messageId]);

  const { redacting } = await redactBehindWriter(shop.id, { shopifyCustomerId: null, email: null, phone });
  await handler.query('COMMIT');
  await handler.end();
  await redacting;

  const stored = await t.env.db.$queryRaw<{ from_phone: string | null; text: string | null }[]>`
    SELECT from_phone, text FROM inbound_messages WHERE provider_message_id = ${messageId}`;
  expect(stored).toEqual([{ from_phone: null, text: null }]);
});

it('a STOP from the customer\'s number to a sender other shops send as, still unprocessed, is not dropped by one shop\'s customers/redact: it binds the others once applied', async () => {
  const redacting = await createShop(t.env.db);
  const other = await createShop(t.env.db);
  const phone = testPhone();
  const [otherShop] = await t.env.db.$queryRaw<{ sender_id: string }[]>`SELECT sender_id FROM shops WHERE id = ${other.id}::uuid`;
  const shared = otherShop!.sender_id;
  const messageId = rid('in');
  const id = (await recordWebhookEvent(t.env.db, {
    provider: 'sms-simulator',
    eventId: `inbound:${messageId}`,
    topic: 'inbound',
    payload: { id: messageId, from: phone, to: shared, text: 'STOP', timestamp: new Date().toISOString() },
  }))!;

  await t.env.db.$transaction((tx) =>
    redactCustomer(tx, { requestId: randomUUID(), shopId: redacting.id, customer: { shopifyCustomerId: null, email: null, phone }, eventRowId: randomUUID(), phoneHashKey: t.env.config.PHONE_HASH_KEY }),
  );
  expect(await processWebhookEvent(t.deps, id, { final: false })).toBe('processed');

  const suppressed = await suppressedNumbers(t.env.db, t.env.config.PHONE_HASH_KEY, { shopId: other.id, senderId: shared, phones: [phone] });
  expect([...suppressed]).toEqual([phone]);
  const [stored] = await t.env.db.$queryRaw<{ from_phone: string | null; text: string | null }[]>`
    SELECT from_phone, text FROM inbound_messages WHERE provider_message_id = ${messageId}`;
  expect(stored).toEqual({ from_phone: null, text: null });
});

async function ownSender(shopId: string): Promise<string> {
  const own = `Own${Date.now() % 1_000_000}${Math.floor(Math.random() * 1000)}`;
  await t.env.db.$executeRaw`UPDATE shops SET sender_id = ${own}, sender_owned = true WHERE id = ${shopId}::uuid`;
  return own;
}

async function openInbound(from: string, to: string, text: string, at: Date): Promise<string> {
  const messageId = rid('in');
  return (await recordWebhookEvent(t.env.db, {
    provider: 'sms-simulator',
    eventId: `inbound:${messageId}`,
    topic: 'inbound',
    payload: { id: messageId, from, to, text, timestamp: at.toISOString() },
  }))!;
}

const redactNumber = (shopId: string, phone: string) =>
  t.env.db.$transaction((tx) =>
    redactCustomer(tx, { requestId: randomUUID(), shopId, customer: { shopifyCustomerId: null, email: null, phone }, eventRowId: randomUUID(), phoneHashKey: t.env.config.PHONE_HASH_KEY }),
  );

it('an unprocessed STOP to the shop\'s own sender, closed by customers/redact, still binds: the number added again is opted out and its sends are skipped', async () => {
  const shop = await createShop(t.env.db);
  const own = await ownSender(shop.id);
  const known = testPhone();
  const stranger = testPhone();
  await createContactByApi(t.env.db, shop.id, { phoneE164: known, phoneHash: phoneHash(known), smsConsent: 'subscribed' });
  const stops = [await openInbound(known, own, 'Stop.', new Date()), await openInbound(stranger, own, 'UNSUBSCRIBE', new Date())];

  await redactNumber(shop.id, known);
  await redactNumber(shop.id, stranger);

  // Closed, body gone, number gone: the redact applied them itself.
  const events = await t.env.db.$queryRaw<{ status: string; payload: unknown }[]>`SELECT status, payload FROM webhook_events WHERE id = ANY(${stops}::uuid[])`;
  expect(events).toEqual([
    { status: 'ignored', payload: { redacted: true } },
    { status: 'ignored', payload: { redacted: true } },
  ]);

  // Both numbers come back (POST /api/contacts), saying subscribed.
  const again = await createContactByApi(t.env.db, shop.id, { phoneE164: known, phoneHash: phoneHash(known), smsConsent: 'subscribed' });
  await createContactByApi(t.env.db, shop.id, { phoneE164: stranger, phoneHash: phoneHash(stranger), smsConsent: 'subscribed' });
  // The tombstone kept the STOP's opt-out: the contact is unsubscribed.
  expect(again.contact.smsConsent).toBe('unsubscribed');
  // The send path skips both from the shop's sender.
  const recipients = [known, stranger].map((phone) => ({ status: 'sending', phone }));
  const sent = await skipSuppressed(t.env.db, t.env.config.PHONE_HASH_KEY, { shopId: shop.id, senderId: own }, recipients);
  expect(sent.map((r) => r.status)).toEqual(['skipped', 'skipped']);
  // Recorded as the handler records it (keyword and hash), without number or text.
  const stored = await t.env.db.$queryRaw<{ from_phone: string | null; text: string | null; keyword: string | null }[]>`
    SELECT from_phone, text, keyword FROM inbound_messages WHERE from_hash = ANY(${[phoneHash(known), phoneHash(stranger)]}::text[])`;
  expect(stored).toEqual([
    { from_phone: null, text: null, keyword: 'STOP' },
    { from_phone: null, text: null, keyword: 'STOP' },
  ]);
});

it('a START after the STOP in the same closed backlog is applied in arrival order as the inbound handler would: it lifts the STOP; a STOP after a START wins', async () => {
  const shop = await createShop(t.env.db);
  const own = await ownSender(shop.id);
  const [liftedNumber, stoppedNumber] = [testPhone(), testPhone()];
  const t0 = Date.now() - 60_000;
  const arrivals = [
    await openInbound(liftedNumber, own, 'STOP', new Date(t0)),
    await openInbound(liftedNumber, own, 'START', new Date(t0 + 1_000)),
    // Arrives last though sent first: a STOP that arrives late always wins.
    await openInbound(stoppedNumber, own, 'START', new Date(t0 + 1_000)),
    await openInbound(stoppedNumber, own, 'STOP', new Date(t0)),
  ];
  // Arrival order is received_at, then the row's random id (as the drain reads them): two inserts in the
  // same millisecond would arrive in either order, so each is given its own.
  for (const [i, id] of arrivals.entries()) {
    await t.env.db.$executeRaw`UPDATE webhook_events SET received_at = ${new Date(t0 + 10_000 + i * 1_000)}::timestamptz WHERE id = ${id}::uuid`;
  }

  await redactNumber(shop.id, liftedNumber);
  await redactNumber(shop.id, stoppedNumber);

  const suppressed = await suppressedNumbers(t.env.db, t.env.config.PHONE_HASH_KEY, { shopId: shop.id, senderId: own, phones: [liftedNumber, stoppedNumber] });
  expect([...suppressed]).toEqual([stoppedNumber]);
});

it('an inbound STOP to the shop\'s own sender being applied when customers/redact comes is waited for as a whole: it binds once, without a deadlock, and its number and text are scrubbed', async () => {
  const shop = await createShop(t.env.db);
  const own = await ownSender(shop.id);
  const phone = testPhone();
  const { contact } = await createContactByApi(t.env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone), smsConsent: 'subscribed' });
  const stop = await openInbound(phone, own, 'STOP', new Date());
  // Holds the handler at its contact update, after it wrote the suppression (the order that met the redact's contact lock).
  const blocker = new Client({ connectionString: t.env.config.DATABASE_URL });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [contact.id]);
  const handling = processWebhookEvent(t.deps, stop, { final: false });
  await waitFor('the handler waits at its contact update', async () => {
    const rows = await t.env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE contacts%'`;
    return Number(rows[0]!.n) > 0;
  });
  const { redacting } = await redactBehindWriter(shop.id, { shopifyCustomerId: null, email: null, phone });
  await blocker.query('ROLLBACK');
  await blocker.end();

  expect(await handling).toBe('processed');
  await redacting;
  const suppressed = await suppressedNumbers(t.env.db, t.env.config.PHONE_HASH_KEY, { shopId: shop.id, senderId: own, phones: [phone] });
  expect([...suppressed]).toEqual([phone]);
  const [tombstone] = await t.env.db.$queryRaw<{ phone_e164: string | null; sms_consent: string; opt_out_source: string | null }[]>`
    SELECT phone_e164, sms_consent, opt_out_source FROM contacts WHERE id = ${contact.id}::uuid`;
  expect(tombstone).toEqual({ phone_e164: null, sms_consent: 'unsubscribed', opt_out_source: 'keyword' });
  const stored = await t.env.db.$queryRaw<{ from_phone: string | null; text: string | null }[]>`
    SELECT from_phone, text FROM inbound_messages WHERE from_hash = ${phoneHash(phone)}`;
  expect(stored).toEqual([{ from_phone: null, text: null }]);
});
