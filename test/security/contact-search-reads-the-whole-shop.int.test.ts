import { listContacts, type ListContactsQuery } from '../../domain/contacts/list-contacts';
import { Sql, sql, type Db, type Tx } from '../../lib/db';
import { createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';

// The attack: a merchant (or a script with its session, within the rate
// limit) searches its contacts for a prefix that few or none match. The
// search was a filter on the newest-first walk of the shop's contacts, so
// each such request read every contact of the shop: ~1.4–5 s at 1 000 000
// contacts, a core for that long, the statement timeout for bigger shops,
// and every other shop's queries slowed meanwhile. The search fields now have
// prefix indexes, and a search is planned for its own prefix every time.

const CONTACTS = 20_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows of contacts the plan's heap scans read (returned or filtered out), over every loop. */
function contactRowsExamined(node: PlanNode): number {
  const own = node['Relation Name'] === 'contacts' && node['Node Type'].endsWith('Scan')
    ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * (node['Actual Loops'] ?? 1)
    : 0;
  return own + (node.Plans ?? []).reduce((n, p) => n + contactRowsExamined(p), 0);
}

function indexConditions(node: PlanNode): string[] {
  const own = node['Index Name'] && node['Index Cond'] ? [`${node['Index Name']}: ${node['Index Cond']}`] : [];
  return [...own, ...(node.Plans ?? []).flatMap(indexConditions)];
}

describe('a contacts search that few contacts match', () => {
  let env: TestEnv;
  let shop: ShopFixture;

  beforeAll(async () => {
    env = await createTestEnv();
    shop = await createShop(env.db);
    // A shop of CONTACTS contacts: 10 first names, 100 surnames (200 contacts
    // each), an email for two in three, one in twenty tagged; and one contact
    // ("Wendy Quigley") that the rare searches look for.
    await env.db.$executeRaw`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, tags, created_at)
      SELECT ${shop.id}::uuid, p, encode(sha256(p::bytea), 'hex'),
             CASE WHEN g % 3 = 0 THEN NULL ELSE substr(md5(g::text), 1, 12) || '@example.com' END,
             (ARRAY['Mary','John','Linda','James','Susan','Robert','Karen','David','Lisa','Mark'])[1 + g % 10],
             (ARRAY['Ander','Bender','Carl','Dickin','Ellis','Fergu','Gib','Harri','Jack','Niel'])[1 + (g / 10) % 10]
               || (ARRAY['son','sen','ston','ley','ford','man','ton','field','well','wood'])[1 + (g / 100) % 10],
             CASE WHEN g % 4 = 0 THEN 'pending' ELSE 'subscribed' END,
             CASE WHEN g % 20 = 0 THEN ARRAY['vip'] ELSE ARRAY[]::text[] END,
             now() - interval '1 day' + g * interval '1 second'
        FROM generate_series(1, ${CONTACTS - 1}::int) g, LATERAL (SELECT '+1201' || (3000000 + g)::text AS p) x`;
    await env.db.$executeRaw`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, tags, created_at)
      VALUES (${shop.id}::uuid, '+447700900123', encode(sha256('+447700900123'::bytea), 'hex'), 'w.quigley@example.org', 'Wendy', 'Quigley',
              'subscribed', ARRAY['vip'], now() - interval '2 days')`;
    await env.db.$executeRawUnsafe('ANALYZE contacts');
  }, 60_000);
  afterAll(async () => {
    await env.close();
  });

  /** EXPLAIN ANALYZE of the statement listContacts sends for `query`, rolled back. */
  async function searchPlan(query: ListContactsQuery): Promise<PlanNode> {
    let statement: { text: string; values: unknown[] } | undefined;
    const capture = {
      ...env.db,
      $queryRaw: async (q: TemplateStringsArray | Sql, ...values: unknown[]) => {
        const s = q instanceof Sql ? q : sql(q, ...values);
        statement = { text: s.text, values: s.values };
        return [];
      },
      $queryRawUnsafe: async (text: string, ...values: unknown[]) => {
        statement = { text, values };
        return [];
      },
    } as unknown as Db;
    await listContacts(capture, shop.id, query);
    let plan: PlanNode | undefined;
    await env.db.$transaction(async (tx) => {
      const [row] = await tx.$queryRawUnsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement!.text}`, ...statement!.values);
      plan = row!['QUERY PLAN'][0].Plan;
      throw new Error('rollback');
    }).catch((err: unknown) => {
      if ((err as Error).message !== 'rollback') throw err;
    });
    return plan!;
  }

  it.each<[string, ListContactsQuery, number]>([
    ['a prefix nobody has', { q: 'zzq' }, 0],
    ['a prefix nobody has, with consent and tag', { q: 'zzq', consent: 'subscribed', tag: 'vip' }, 0],
    ['a rare first name', { q: 'wen' }, 1],
    ['a rare last name, any case', { q: 'QUIG' }, 1],
    ['a rare email', { q: 'w.quig' }, 1],
    ['a rare email with a LIKE wildcard taken literally', { q: 'w_quig' }, 0],
    ['rare phone digits', { q: '+44 7700' }, 1],
    ['phone digits nobody has', { q: '(202) 555' }, 0],
    ['a rare prefix, with consent and tag', { q: 'quig', consent: 'subscribed', tag: 'vip' }, 1],
  ])('%s reads the matching contacts through the search indexes, not the shop', async (_why, query, found) => {
    expect((await listContacts(env.db, shop.id, query)).data).toHaveLength(found);
    const plan = await searchPlan(query);
    expect(contactRowsExamined(plan)).toBeLessThanOrEqual(20);
    expect(indexConditions(plan).some((c) => c.startsWith('contacts_search_'))).toBe(true);
  });

  it('a common prefix still answers a page from the newest contacts, reading about a page of them', async () => {
    const page = await listContacts(env.db, shop.id, { q: 'mar', limit: 50 });
    expect(page.data).toHaveLength(50);
    expect(page.data.every((c) => c.firstName === 'Mary' || c.firstName === 'Mark')).toBe(true);
    // One contact in five is a Mary or a Mark: the created_at walk fills the page.
    expect(contactRowsExamined(await searchPlan({ q: 'mar', limit: 50 }))).toBeLessThanOrEqual(1_000);
  });

  it('after many searches on one connection, a prefix nobody has still reads none of the shop', async () => {
    // Postgres switches a prepared statement to its generic plan after five
    // executions whose own plans cost more (surnames 1 % of the shop has); that
    // plan cannot use a prefix index, it walks the whole shop for any prefix.
    const examined = await env.db.$transaction(async (tx: Tx) => {
      for (const q of ['andersen', 'benderley', 'carlford', 'dickinman', 'ellisfield', 'fergusen', 'gibston', 'harriwood', 'jackton', 'nielwell']) await listContacts(tx, shop.id, { q });
      const read = async () => Number((await tx.$queryRaw<{ n: bigint }[]>`
        SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::bigint AS n
          FROM pg_stat_xact_user_tables WHERE relname = 'contacts'`)[0]!.n);
      const before = await read();
      for (const q of ['zzq', 'qqq', 'xyz', '+1999']) expect((await listContacts(tx, shop.id, { q })).data).toEqual([]);
      return (await read()) - before;
    });
    expect(examined).toBeLessThanOrEqual(20);
  });
});
