import fc from 'fast-check';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { createShop, phoneHash } from '../../test/factories';

// The audience statistics kept by triggers on contacts must equal a full
// recomputation after any mix of writes: counts and non-GSM counts exactly,
// longest names at least the true maximum.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

interface Stat { tag: string; contacts: number; max_first: number; max_last: number; ng_first: number; ng_last: number }

async function stored(shopId: string): Promise<Stat[]> {
  return env.db.$queryRaw<Stat[]>`
    SELECT tag, contacts, max_first_name_length AS max_first, max_last_name_length AS max_last, non_gsm_first_names AS ng_first, non_gsm_last_names AS ng_last
      FROM audience_stats WHERE shop_id = ${shopId}::uuid AND contacts > 0 ORDER BY tag`;
}

async function recomputed(shopId: string): Promise<Stat[]> {
  return env.db.$queryRaw<Stat[]>`
    SELECT t.tag, count(*)::int AS contacts,
           coalesce(max(char_length(c.first_name)), 0)::int AS max_first, coalesce(max(char_length(c.last_name)), 0)::int AS max_last,
           (count(*) FILTER (WHERE NOT gsm7_only(c.first_name)))::int AS ng_first, (count(*) FILTER (WHERE NOT gsm7_only(c.last_name)))::int AS ng_last
      FROM contacts c CROSS JOIN LATERAL (SELECT '' AS tag UNION SELECT DISTINCT x FROM unnest(c.tags) x) t
     WHERE c.shop_id = ${shopId}::uuid AND c.sms_consent = 'subscribed' AND c.opted_out_at IS NULL AND c.erased_at IS NULL AND c.phone_e164 IS NOT NULL
     GROUP BY t.tag ORDER BY t.tag`;
}

async function expectAgree(shopId: string): Promise<void> {
  const [s, r] = await Promise.all([stored(shopId), recomputed(shopId)]);
  expect(s.map(({ tag, contacts, ng_first, ng_last }) => ({ tag, contacts, ng_first, ng_last }))).toEqual(
    r.map(({ tag, contacts, ng_first, ng_last }) => ({ tag, contacts, ng_first, ng_last })),
  );
  for (const row of r) {
    const st = s.find((x) => x.tag === row.tag)!;
    expect(st.max_first).toBeGreaterThanOrEqual(row.max_first);
    expect(st.max_last).toBeGreaterThanOrEqual(row.max_last);
  }
}

const names = fc.constantFrom('Ada', 'Łukasz', 'Zoë', 'Renée', 'José', 'Ἀλέξανδρος', 'Bob', null, 'María-José', '李', 'Kai');
const tags = fc.subarray(['vip', 'eu', 'us', 'new'], { minLength: 0, maxLength: 3 });
const consent = fc.constantFrom('subscribed', 'subscribed', 'unsubscribed', 'pending');
const op = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), n: fc.integer({ min: 1, max: 8 }), first: names, last: names, tags, consent }),
  fc.record({ kind: fc.constant('consent' as const), consent }),
  fc.record({ kind: fc.constant('optout' as const) }),
  fc.record({ kind: fc.constant('erase' as const) }),
  fc.record({ kind: fc.constant('retag' as const), tags }),
  fc.record({ kind: fc.constant('rename' as const), first: names }),
  fc.record({ kind: fc.constant('delete' as const) }),
  fc.record({ kind: fc.constant('upsert' as const), first: names, tags }),
);

let phoneSeq = 0;
it('equals a recomputation after any sequence of contact writes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      const shop = await createShop(env.db);
      for (const o of ops) {
        // Each statement touches a random handful of the shop's contacts, as API calls and imports do.
        const pick = `(SELECT id FROM contacts WHERE shop_id = '${shop.id}'::uuid ORDER BY random() LIMIT 3)`;
        switch (o.kind) {
          case 'insert': {
            const phones = Array.from({ length: o.n }, () => `+1201${2_000_000 + (phoneSeq++ % 7_000_000)}`);
            await env.db.$executeRaw`
              INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent, tags)
              SELECT ${shop.id}::uuid, p, encode(sha256(p::bytea), 'hex'), ${o.first}, ${o.last}, ${o.consent}, ${o.tags}::text[] FROM unnest(${phones}::text[]) p
              ON CONFLICT DO NOTHING`;
            break;
          }
          case 'consent':
            await env.db.$executeRawUnsafe(`UPDATE contacts SET sms_consent = $1 WHERE id IN ${pick}`, o.consent);
            break;
          case 'optout':
            await env.db.$executeRawUnsafe(`UPDATE contacts SET opted_out_at = now(), opt_out_source = 'keyword' WHERE id IN ${pick}`);
            break;
          case 'erase':
            await env.db.$executeRawUnsafe(`UPDATE contacts SET erased_at = now(), phone_e164 = NULL, email = NULL, first_name = NULL, last_name = NULL, tags = '{}' WHERE id IN ${pick}`);
            break;
          case 'retag':
            await env.db.$executeRawUnsafe(`UPDATE contacts SET tags = $1::text[] WHERE id IN ${pick}`, o.tags);
            break;
          case 'rename':
            await env.db.$executeRawUnsafe(`UPDATE contacts SET first_name = $1 WHERE id IN ${pick} AND erased_at IS NULL`, o.first);
            break;
          case 'delete':
            await env.db.$executeRawUnsafe(`DELETE FROM contacts WHERE id IN ${pick}`);
            break;
          case 'upsert': {
            // An import chunk: some rows new, some existing (ON CONFLICT DO UPDATE fires both triggers).
            const existing = await env.db.$queryRaw<{ phone_e164: string }[]>`SELECT phone_e164 FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_e164 IS NOT NULL LIMIT 2`;
            const phones = [...existing.map((e) => e.phone_e164), `+1201${2_000_000 + (phoneSeq++ % 7_000_000)}`];
            await env.db.$executeRaw`
              INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, sms_consent, tags)
              SELECT ${shop.id}::uuid, p, encode(sha256(p::bytea), 'hex'), ${o.first}, 'subscribed', ${o.tags}::text[] FROM unnest(${phones}::text[]) p
              ON CONFLICT (shop_id, phone_hash) DO UPDATE SET first_name = EXCLUDED.first_name, tags = EXCLUDED.tags, sms_consent = EXCLUDED.sms_consent`;
            break;
          }
        }
      }
      await expectAgree(shop.id);
    }),
    { numRuns: 40 },
  );
}, 60_000);

it('stays exact under concurrent writers to the same shop', async () => {
  const shop = await createShop(env.db);
  await Promise.all(
    Array.from({ length: 10 }, (_, w) =>
      env.db.$executeRaw`
        INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, sms_consent, tags)
        SELECT ${shop.id}::uuid, p, encode(sha256(p::bytea), 'hex'), 'Ann', 'subscribed', ARRAY['vip', 'eu']
          FROM (SELECT '+1202' || (2000000 + ${w * 1000}::int + g)::text AS p FROM generate_series(1, 200) g) x`,
    ),
  );
  await Promise.all(Array.from({ length: 5 }, () => env.db.$executeRaw`UPDATE contacts SET opted_out_at = now() WHERE id IN (SELECT id FROM contacts WHERE shop_id = ${shop.id}::uuid AND opted_out_at IS NULL LIMIT 50 FOR UPDATE SKIP LOCKED)`));
  await expectAgree(shop.id);
  expect((await stored(shop.id)).find((s) => s.tag === '')?.contacts).toBe(2000 - 250);
});

it('goes with the shop: deleting a shop (its contacts cascade) leaves no statistics behind', async () => {
  const shop = await createShop(env.db);
  await env.db.$executeRaw`INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent) VALUES (${shop.id}::uuid, '+12015550111', ${phoneHash('+12015550111')}, 'subscribed')`;
  expect(await stored(shop.id)).toHaveLength(1);
  await env.db.$executeRaw`DELETE FROM shops WHERE id = ${shop.id}::uuid`;
  const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM audience_stats WHERE shop_id = ${shop.id}::uuid`;
  expect(Number(row!.n)).toBe(0);
});
