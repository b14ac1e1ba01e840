import { Client } from 'pg';
import { createTestDatabase, dropTestDatabase } from '../db';

// Deleting a row runs, per deleted row, one lookup in every table whose
// foreign key references it (CASCADE, SET NULL, or the NO ACTION check).
// Without an index leading with one of the key's columns that lookup scans
// the whole table: deleting a shop's 200 000 contacts scanned link_clicks and
// order_attributions once per contact (docs/architecture.md, "Deleting a
// shop"). A partial index serves the lookup only when its predicate follows
// from `column = value`, i.e. `column IS NOT NULL`.

let dbName: string;
let unindexed: string[];

beforeAll(async () => {
  const db = await createTestDatabase();
  dbName = db.name;
  const client = new Client({ connectionString: db.url });
  await client.connect();
  try {
    unindexed = (
      await client.query<{ fk: string }>(`
        SELECT format('%s(%s) -> %s', c.conrelid::regclass, cols.names, c.confrelid::regclass) AS fk
          FROM pg_constraint c
          CROSS JOIN LATERAL (
            SELECT string_agg(a.attname, ', ' ORDER BY k.o) AS names
              FROM unnest(c.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
          ) cols
         WHERE c.contype = 'f'
           AND NOT EXISTS (
             SELECT 1 FROM pg_index i JOIN pg_attribute lead ON lead.attrelid = i.indrelid AND lead.attnum = i.indkey[0]
              WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indkey[0] = ANY(c.conkey)
                AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) = format('(%I IS NOT NULL)', lead.attname)))
         ORDER BY 1`)
    ).rows.map((r) => r.fk);
  } finally {
    await client.end();
  }
});

afterAll(async () => {
  await dropTestDatabase(dbName);
});

it('every foreign key (those to shops and contacts first of all) has an index leading with one of its columns', () => {
  expect(unindexed).toEqual([]);
});
