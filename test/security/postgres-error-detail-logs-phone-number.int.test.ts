import type { Express } from 'express';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';
import { createContact, createShop, testPhone } from '../factories';
import { sessionToken } from '../session-token';

// Attack (on the logs, the place PII must never reach): make a statement fail
// on a value that is a phone number. Postgres repeats the offending value in
// the error's `detail` ("Key (phone_e164)=(+1…) already exists.") or, inside
// a function, in `where` (the statement text). The logger scrubbed only
// `message` and `stack`, so both fields went to the log verbatim. Closed:
// every string field of a logged error is scrubbed like `message`.
// The constraint and the trigger below exist only in this test's database:
// they stand for any future constraint or function that trips on a phone.

let env: TestEnv;
let app: Express;
beforeAll(async () => {
  env = await createTestEnv();
  ({ app } = await env.api());
});
afterAll(async () => {
  await env.close();
});

async function postContact(phone: string): Promise<number> {
  const shop = await createShop(env.db);
  const res = await request(app)
    .post('/api/contacts')
    .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
    .set('Idempotency-Key', `k-${phone}`)
    .send({ phone });
  return res.status;
}

const digits = (phone: string): string => phone.replace(/\D/g, '');

it('a unique violation whose detail names the phone logs no phone number', async () => {
  const phone = testPhone();
  await env.db.$executeRawUnsafe('CREATE UNIQUE INDEX test_phone_once_across_shops ON contacts (phone_e164)');
  try {
    await createContact(env.db, (await createShop(env.db)).id, { phone });
    expect(await postContact(phone)).toBe(500);
  } finally {
    await env.db.$executeRawUnsafe('DROP INDEX test_phone_once_across_shops');
  }
  const failed = env.logs.lines.filter((l) => l.includes('"request failed"') && l.includes('23505'));
  expect(failed).toHaveLength(1);
  expect(failed[0]).toContain('"detail"');
  expect(env.logs.text()).not.toContain(digits(phone).slice(-7));
});

it('an error raised inside a function (its `where` quotes the statement) logs no phone number', async () => {
  const phone = testPhone();
  await env.db.$executeRawUnsafe(`
    CREATE FUNCTION test_trip_on_phone() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      EXECUTE format('SELECT 1 / 0 WHERE %L IS NOT NULL', NEW.phone_e164);
      RETURN NEW;
    END $$`);
  await env.db.$executeRawUnsafe('CREATE TRIGGER test_trip_on_phone BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION test_trip_on_phone()');
  try {
    expect(await postContact(phone)).toBe(500);
  } finally {
    await env.db.$executeRawUnsafe('DROP TRIGGER test_trip_on_phone ON contacts');
    await env.db.$executeRawUnsafe('DROP FUNCTION test_trip_on_phone()');
  }
  const failed = env.logs.lines.filter((l) => l.includes('"request failed"') && l.includes('22012'));
  expect(failed).toHaveLength(1);
  expect(failed[0]).toContain('"where"');
  expect(env.logs.text()).not.toContain(digits(phone).slice(-7));
});
