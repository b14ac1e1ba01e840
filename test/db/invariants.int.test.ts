import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { CHECK, NOT_NULL, UNIQUE, rejectedWith } from '../pg-rejections';
import { createCampaign, createContact, createContactsBulk, createShop, phoneHash } from '../factories';
import { sql } from '../../lib/db';

// One test per invariant of design.md: Postgres itself rejects the violating
// write, whatever the application code does.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});


describe('credit_wallets', () => {
  it('rejects a negative balance', async () => {
    const shop = await createShop(env.db);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE credit_wallets SET balance = -1 WHERE shop_id = ${shop.id}::uuid`);
  });
  it('rejects a negative reserved amount', async () => {
    const shop = await createShop(env.db, { credits: 10 });
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE credit_wallets SET reserved = -1 WHERE shop_id = ${shop.id}::uuid`);
  });
  it('rejects reserved > balance', async () => {
    const shop = await createShop(env.db, { credits: 10 });
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE credit_wallets SET reserved = 11 WHERE shop_id = ${shop.id}::uuid`);
  });
});

describe('credit_transactions (ledger)', () => {
  it('rejects a duplicate ledger key for the same shop', async () => {
    const shop = await createShop(env.db);
    let seq = 0;
    const insert = () => env.db.$executeRaw`
      INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq) VALUES (${shop.id}::uuid, 'grant', 5, 5, 'k-1', ${++seq})`;
    await insert();
    await rejectedWith(UNIQUE, insert);
  });
  it('allows the same key for another shop', async () => {
    const a = await createShop(env.db);
    const b = await createShop(env.db);
    for (const s of [a, b]) {
      await env.db.$executeRaw`INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq) VALUES (${s.id}::uuid, 'grant', 5, 5, 'same', 1)`;
    }
    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM credit_transactions WHERE idempotency_key = 'same'`;
    expect(Number(row!.n)).toBe(2);
  });
  it('rejects a second row at the same apply position of a shop, and a row without one', async () => {
    const shop = await createShop(env.db);
    const insert = (key: string, seq: number | null) => env.db.$executeRaw`
      INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq) VALUES (${shop.id}::uuid, 'grant', 5, 5, ${key}, ${seq}::bigint)`;
    await insert('a', 1);
    await rejectedWith(UNIQUE, () => insert('b', 1));
    await rejectedWith(NOT_NULL, () => insert('c', null));
  });
  it('rejects a zero amount and an unknown type', async () => {
    const shop = await createShop(env.db);
    await rejectedWith(CHECK, () => env.db.$executeRaw`INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq) VALUES (${shop.id}::uuid, 'grant', 0, 0, 'z', 1)`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq) VALUES (${shop.id}::uuid, 'gift', 1, 1, 'y', 1)`);
  });
});

describe('credit_reservations', () => {
  async function reserve(shopId: string, campaignId: string, key: string, status = 'active') {
    return env.db.$executeRaw`
      INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount, consumed, released, status)
      VALUES (${shopId}::uuid, ${campaignId}::uuid, ${key}, 10, ${status === 'closed' ? 10 : 0}, 0, ${status})`;
  }
  it('rejects two active reservations for one campaign', async () => {
    const shop = await createShop(env.db);
    const c = await createCampaign(env.db, shop.id);
    await reserve(shop.id, c.id, 'r-1');
    await rejectedWith(UNIQUE, () => reserve(shop.id, c.id, 'r-2'));
  });
  it('allows a new active reservation once the old one is closed', async () => {
    const shop = await createShop(env.db);
    const c = await createCampaign(env.db, shop.id);
    await reserve(shop.id, c.id, 'r-1', 'closed');
    await expect(reserve(shop.id, c.id, 'r-2')).resolves.toBe(1);
  });
  it('rejects a duplicate reservation key for the shop', async () => {
    const shop = await createShop(env.db);
    const c1 = await createCampaign(env.db, shop.id);
    const c2 = await createCampaign(env.db, shop.id);
    await reserve(shop.id, c1.id, 'dup');
    await rejectedWith(UNIQUE, () => reserve(shop.id, c2.id, 'dup'));
  });
  it('rejects consuming or releasing more than was reserved, and a closed reservation that still holds credits', async () => {
    const shop = await createShop(env.db);
    const c = await createCampaign(env.db, shop.id);
    await reserve(shop.id, c.id, 'over');
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE credit_reservations SET consumed = 8, released = 3 WHERE reservation_key = 'over'`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE credit_reservations SET status = 'closed', consumed = 4 WHERE reservation_key = 'over'`);
  });
});

describe('contacts', () => {
  it('rejects a duplicate phone within a shop', async () => {
    const shop = await createShop(env.db);
    const c = await createContact(env.db, shop.id);
    await rejectedWith(UNIQUE, () => createContact(env.db, shop.id, { phone: c.phone }));
  });
  it('accepts the same phone in another shop', async () => {
    const a = await createShop(env.db);
    const b = await createShop(env.db);
    const c = await createContact(env.db, a.id);
    await expect(createContact(env.db, b.id, { phone: c.phone })).resolves.toHaveProperty('id');
  });
  it('rejects a phone that is not E.164 and an unknown consent state', async () => {
    const shop = await createShop(env.db);
    await rejectedWith(CHECK, () => env.db.$executeRaw`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash) VALUES (${shop.id}::uuid, '555-0100', ${phoneHash('555-0100')})`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent) VALUES (${shop.id}::uuid, '+12015550100', ${phoneHash('+12015550100')}, 'maybe')`);
  });
  it('rejects an opt-out source without an opt-out time', async () => {
    const shop = await createShop(env.db);
    await rejectedWith(CHECK, () => env.db.$executeRaw`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash, opt_out_source) VALUES (${shop.id}::uuid, '+12015550101', ${phoneHash('+12015550101')}, 'keyword')`);
  });
  it('rejects an erased contact that still holds PII', async () => {
    const shop = await createShop(env.db);
    const c = await createContact(env.db, shop.id);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE contacts SET erased_at = now() WHERE id = ${c.id}::uuid`);
  });
});

describe('campaigns and recipients', () => {
  it('rejects a duplicate recipient for one campaign, within one statement too', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const contact = await createContact(env.db, shop.id);
    const insert = () => env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${contact.id}::uuid, 0)`;
    await insert();
    await rejectedWith(UNIQUE, insert);
    const other = await createCampaign(env.db, shop.id);
    await rejectedWith(UNIQUE, () => env.db.$executeRaw`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${other.id}::uuid, ${contact.id}::uuid, 0), (${other.id}::uuid, ${contact.id}::uuid, 1)`);
    // The same contact in another campaign is another recipient.
    await expect(env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${other.id}::uuid, ${contact.id}::uuid, 0)`).resolves.toBe(1);
  });
  it('rejects a duplicate recipient inserted concurrently by another transaction', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const contact = await createContact(env.db, shop.id);
    // The first insert stays uncommitted until the second is waiting on the campaign's lock.
    let commitFirst!: () => void;
    const gate = new Promise<void>((r) => { commitFirst = r; });
    let inserted!: () => void;
    const firstInserted = new Promise<void>((r) => { inserted = r; });
    const first = env.db.$transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${contact.id}::uuid, 0)`;
      inserted();
      await gate;
    }, { timeout: 20_000 });
    await firstInserted;
    const second = env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${contact.id}::uuid, 1)`;
    for (let i = 0; i < 200; i++) {
      const [w] = await env.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`;
      if (Number(w!.n) > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    commitFirst();
    await first;
    await rejectedWith(UNIQUE, () => second);
    const [n] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${camp.id}::uuid`;
    expect(Number(n!.n)).toBe(1);
  });
  it('refuses recipient inserts outside READ COMMITTED (the duplicate check needs its snapshot) and any change of campaign or contact', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const [a, b] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    await rejectedWith('0A000', () => env.db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await tx.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${a.id}::uuid, 0)`;
    }));
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${a.id}::uuid, 0), (${camp.id}::uuid, ${b.id}::uuid, 0)`;
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET contact_id = ${b.id}::uuid WHERE campaign_id = ${camp.id}::uuid AND contact_id = ${a.id}::uuid`);
  });
  it('rejects a batch claim without its lease, or a lease without its claim', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    await env.db.$executeRaw`INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count) VALUES (${camp.id}::uuid, 0, 1)`;
    const batch = sql`campaign_id = ${camp.id}::uuid AND batch_no = 0`;
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_batches SET claim_token = ${randomUUID()}::uuid WHERE ${batch}`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_batches SET lease_until = now() WHERE ${batch}`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_batches SET attempt = -1 WHERE ${batch}`);
    await expect(env.db.$executeRaw`UPDATE campaign_batches SET claim_token = ${randomUUID()}::uuid, lease_until = now() WHERE ${batch}`).resolves.toBe(1);
  });
  it('no index of campaign_recipients names a column a settle or a delivery report writes (so both update rows in place)', async () => {
    // Columns of an index's key, expressions or predicate: any of them changed makes an update non-HOT.
    const rows = await env.db.$queryRaw<{ index: string; column: string }[]>`
      SELECT i.relname AS index, a.attname AS column
        FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
        JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum > 0
       WHERE ix.indrelid = 'campaign_recipients'::regclass
         AND (a.attnum = ANY(ix.indkey)
              OR pg_get_expr(ix.indexprs, ix.indrelid) ~ ('\m' || a.attname || '\M')
              OR pg_get_expr(ix.indpred, ix.indrelid) ~ ('\m' || a.attname || '\M'))`;
    const written = ['status', 'attempt', 'provider_message_id', 'segments', 'sent_at', 'error_code', 'final_at', 'claim_token', 'lease_until'];
    expect(rows.filter((r) => written.includes(r.column))).toEqual([]);
    // contact_id: attribution's last delivery per contact (never written after insert).
    expect(rows.map((r) => r.column).sort()).toEqual(['batch_no', 'campaign_id', 'contact_id', 'id']);
  });
  it('rejects a status moving backwards (delivered → sent, sent → pending)', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments) VALUES (${camp.id}::uuid, ${contact.id}::uuid, 0, 'sent', 'pm-2', 1)`;
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET status = 'pending' WHERE contact_id = ${contact.id}::uuid`);
    await env.db.$executeRaw`UPDATE campaign_recipients SET status = 'delivered' WHERE contact_id = ${contact.id}::uuid`;
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET status = 'sent' WHERE contact_id = ${contact.id}::uuid`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET status = 'failed' WHERE contact_id = ${contact.id}::uuid`);
    // The check is the trigger's WHEN; a status written again unchanged passes.
    expect(await env.db.$executeRaw`UPDATE campaign_recipients SET status = 'delivered' WHERE contact_id = ${contact.id}::uuid`).toBe(1);
  });
  it('lets a status move forward, and a lease expiry return a sending row to pending', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${contact.id}::uuid, 0)`;
    const set = (s: ReturnType<typeof sql>) => env.db.$executeRaw`UPDATE campaign_recipients SET ${s} WHERE contact_id = ${contact.id}::uuid`;
    expect(await set(sql`status = 'sending', claim_token = ${randomUUID()}::uuid, lease_until = now()`)).toBe(1);
    expect(await set(sql`status = 'pending', claim_token = NULL, lease_until = NULL`)).toBe(1);
    expect(await set(sql`status = 'unknown', segments = 1`)).toBe(1);
    expect(await set(sql`status = 'sent', provider_message_id = 'pm-fwd'`)).toBe(1);
    expect(await set(sql`status = 'delivered'`)).toBe(1);
  });
  it("rejects a change of a recipient's campaign, contact or id", async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const other = await createCampaign(env.db, shop.id);
    const contact = await createContact(env.db, shop.id);
    const another = await createContact(env.db, shop.id);
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${contact.id}::uuid, 0)`;
    const row = sql`contact_id = ${contact.id}::uuid`;
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET campaign_id = ${other.id}::uuid WHERE ${row}`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET contact_id = ${another.id}::uuid WHERE ${row}`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET id = id + 1000000 WHERE ${row}`);
    await expect(env.db.$executeRaw`UPDATE campaign_recipients SET campaign_id = ${camp.id}::uuid WHERE ${row}`).resolves.toBe(1);
  });
  it('one backwards row among 1 000 refuses the whole statement; 1 000 forward moves pass', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, 1000);
    await env.db.$executeRaw`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments)
      SELECT ${camp.id}::uuid, id, 0, 'sent', 'pm-' || id, 1 FROM contacts WHERE shop_id = ${shop.id}::uuid`;
    const [first] = await env.db.$queryRaw<{ id: bigint }[]>`SELECT min(id) AS id FROM campaign_recipients WHERE campaign_id = ${camp.id}::uuid`;
    await env.db.$executeRaw`UPDATE campaign_recipients SET status = 'delivered' WHERE id = ${first!.id}`;
    // Every other row moves forward; the first would move back.
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET status = CASE WHEN id = ${first!.id} THEN 'sent' ELSE 'delivered' END WHERE campaign_id = ${camp.id}::uuid`);
    const counts = await env.db.$queryRaw<{ status: string; n: number }[]>`SELECT status, count(*)::int AS n FROM campaign_recipients WHERE campaign_id = ${camp.id}::uuid GROUP BY status ORDER BY status`;
    expect(counts).toEqual([{ status: 'delivered', n: 1 }, { status: 'sent', n: 999 }]);
    await expect(env.db.$executeRaw`UPDATE campaign_recipients SET status = 'delivered' WHERE campaign_id = ${camp.id}::uuid AND status = 'sent'`).resolves.toBe(999);
  });
  it('checks a recipient update after the row is written: no BEFORE UPDATE row trigger (Postgres would lock every row it updates for it)', async () => {
    const rows = await env.db.$queryRaw<{ name: string; row: boolean; before: boolean }[]>`
      SELECT tgname AS name, (tgtype & 1) = 1 AS row, (tgtype & 2) = 2 AS before
        FROM pg_trigger WHERE tgrelid = 'campaign_recipients'::regclass AND NOT tgisinternal AND (tgtype & 16) = 16 ORDER BY tgname`;
    expect(rows).toEqual([
      { name: 'campaign_recipients_fixed_keys', row: true, before: false },
      { name: 'campaign_recipients_forward_only', row: true, before: false },
    ]);
  });
  it('rejects a sending row without claim token and lease, and a sent row without provider id', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${camp.id}::uuid, ${contact.id}::uuid, 0)`;
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET status = 'sending' WHERE contact_id = ${contact.id}::uuid`);
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE campaign_recipients SET status = 'sent' WHERE contact_id = ${contact.id}::uuid`);
  });
  it('makes the second draft → queued transition change nothing (one active send per campaign)', async () => {
    const shop = await createShop(env.db);
    const camp = await createCampaign(env.db, shop.id);
    const guarded = () => env.db.$executeRaw`UPDATE campaigns SET status = 'queued' WHERE id = ${camp.id}::uuid AND status IN ('draft', 'scheduled')`;
    const results = await Promise.all([guarded(), guarded(), guarded()]);
    expect(results.reduce((a, b) => a + b, 0)).toBe(1);
  });
  it('rejects an unknown campaign status and a scheduled campaign without a time', async () => {
    const shop = await createShop(env.db);
    await rejectedWith(CHECK, () => createCampaign(env.db, shop.id, { status: 'paused' }));
    await rejectedWith(CHECK, () => createCampaign(env.db, shop.id, { status: 'scheduled', scheduledAt: null }));
  });
});

describe('idempotency_keys, webhook_events, outbox', () => {
  it('rejects a duplicate (shop, method, route, key)', async () => {
    const shop = await createShop(env.db);
    const insert = () => env.db.$executeRaw`
      INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, locked_until, expires_at)
      VALUES (${shop.id}::uuid, 'POST', '/api/campaigns/:id/enqueue', 'abc', 'f', now(), now() + interval '1 day')`;
    await insert();
    await rejectedWith(UNIQUE, insert);
  });
  it('rejects a completed key with a non-2xx stored response', async () => {
    const shop = await createShop(env.db);
    await rejectedWith(CHECK, () => env.db.$executeRaw`
      INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, status, response_status, locked_until, expires_at)
      VALUES (${shop.id}::uuid, 'POST', '/x', 'k', 'f', 'completed', 500, now(), now())`);
  });
  it('rejects a duplicate webhook event (provider, event id)', async () => {
    const insert = () => env.db.$executeRaw`INSERT INTO webhook_events (provider, event_id, topic, payload) VALUES ('stripe', 'evt_1', 'checkout.session.completed', '{}'::jsonb)`;
    await insert();
    await rejectedWith(UNIQUE, insert);
  });
  it('compresses a batched callback\'s payload with lz4 where the server has it (pglz cost twice the CPU per insert)', async () => {
    const [server] = await env.db.$queryRaw<{ lz4: boolean }[]>`
      SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`;
    const reports = Array.from({ length: 100 }, (_, i) => ({ id: `SM${randomUUID()}`, reference: `r${1_000_000 + i}`, status: 'delivered', timestamp: new Date(0).toISOString() }));
    const eventId = `batch:${randomUUID()}`;
    await env.db.$executeRaw`INSERT INTO webhook_events (provider, event_id, topic, payload) VALUES ('simulator', ${eventId}, 'status-batch', ${JSON.stringify({ reports })}::jsonb)`;
    const [row] = await env.db.$queryRaw<{ method: string | null }[]>`
      SELECT pg_column_compression(payload) AS method FROM webhook_events WHERE provider = 'simulator' AND event_id = ${eventId}`;
    expect(row!.method).toBe(server!.lz4 ? 'lz4' : 'pglz');
  });
  it('rejects an unversioned outbox event name', async () => {
    await rejectedWith(CHECK, () => env.db.$executeRaw`INSERT INTO outbox_events (event_type, aggregate_id, payload) VALUES ('campaign.launch', ${randomUUID()}, '{}'::jsonb)`);
  });
  it('rejects a duplicate Stripe checkout session and a duplicate Stripe customer', async () => {
    const shop = await createShop(env.db);
    const purchase = () => env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency) VALUES (${shop.id}::uuid, 'cs_1', 'starter', 1000, 1000, 'usd')`;
    await purchase();
    await rejectedWith(UNIQUE, purchase);
    await env.db.$executeRaw`INSERT INTO stripe_customers (shop_id, stripe_customer_id) VALUES (${shop.id}::uuid, 'cus_1')`;
    const other = await createShop(env.db);
    await rejectedWith(UNIQUE, () => env.db.$executeRaw`INSERT INTO stripe_customers (shop_id, stripe_customer_id) VALUES (${other.id}::uuid, 'cus_1')`);
  });
});
