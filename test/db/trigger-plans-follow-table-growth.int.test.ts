import { Client } from 'pg';
import { createTestDatabase, dropTestDatabase } from '../db';

// PL/pgSQL keeps the plan of a trigger's static statement for the life of its
// connection. The consent write-back trigger's plan, made while `contacts` was
// nearly empty, scanned the whole of `contacts` for every new consent record
// and went on doing so as the table grew, until an ANALYZE happened to
// replace it: a 50 000-row import ran at ~200 rows/s instead of ~5 000. The
// plan is read here with auto_explain, in one session, as the import's pooled
// connection would see it.

let dbName: string;
let client: Client;
const plans: string[] = [];

beforeAll(async () => {
  const db = await createTestDatabase();
  dbName = db.name;
  client = new Client({ connectionString: db.url });
  await client.connect();
  client.on('notice', (n) => plans.push(n.message ?? ''));
});

afterAll(async () => {
  await client.end();
  await dropTestDatabase(dbName);
});

it("the consent write-back trigger reads contacts by key however small contacts was when the session first ran it", async () => {
  // No ANALYZE may replace the plan during the test (that is what made the slow imports come and go).
  await client.query('ALTER TABLE contacts SET (autovacuum_enabled = false)');
  const shop = await client.query<{ id: string }>(
    `INSERT INTO shops (domain, status, sender_id, sender_owned, timezone, opt_out_footer)
     VALUES ('plans.myshopify.com', 'active', 'Marketing', false, 'UTC', true) RETURNING id`,
  );
  const shopId = shop.rows[0]!.id;
  // As an import declares its changes (declareConsentSource), for the whole session here.
  await client.query(`SELECT set_config('app.consent_context', '{"source":"import"}', false)`);
  const addSubscribed = (n: number) =>
    client.query(
      `INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent, shopify_customer_id)
       VALUES ($1::uuid, $2, $3, 'subscribed', $4)`,
      [shopId, `+1201555${String(n).padStart(4, '0')}`, `hash-${n}`, String(n)],
    );
  // The session's first run of the trigger, with one contact in the table.
  await addSubscribed(1);
  // The table grows without a consent record the write-back would look up (pending is not written back).
  await client.query(
    `INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent)
     SELECT $1::uuid, '+1202' || lpad(g::text, 7, '0'), 'bulk-' || g, 'pending' FROM generate_series(1, 20000) g`,
    [shopId],
  );

  await client.query("LOAD 'auto_explain'");
  await client.query("SET auto_explain.log_level = 'notice'");
  await client.query('SET auto_explain.log_nested_statements = on');
  await client.query('SET auto_explain.log_min_duration = 0');
  await addSubscribed(2);
  await client.query('SET auto_explain.log_min_duration = -1');

  const writeBack = plans.filter((p) => p.includes('contact.consent-writeback.v1'));
  expect(writeBack).toHaveLength(1);
  expect(writeBack[0]).not.toMatch(/Seq Scan on contacts/);
  expect(writeBack[0]).toMatch(/Index Scan using contacts_pkey on contacts/);
  // And it still does its work: both subscribed Shopify customers are queued for write-back.
  const queued = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM shopify_consent_writebacks');
  expect(queued.rows[0]!.n).toBe('2');
});
