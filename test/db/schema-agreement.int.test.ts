import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getDMMF } from '@prisma/internals';
import { Client } from 'pg';
import { createTestDatabase, dropTestDatabase } from '../db';

// schema.prisma and the SQL migrations are written by hand side by side; this
// proves they describe the same database: every model, field, type,
// nullability, primary key, unique, index and foreign key — both ways. Partial
// and GIN indexes and CHECKs are SQL-only (Prisma cannot express them).

type Dmmf = Awaited<ReturnType<typeof getDMMF>>;
type Model = Dmmf['datamodel']['models'][number];
type Field = Model['fields'][number];

interface Column { table: string; column: string; notNull: boolean; type: string }
interface Index { table: string; name: string; unique: boolean; primary: boolean; partial: boolean; method: string; cols: string[] }
interface ForeignKey { table: string; cols: string[]; refTable: string; refCols: string[] }

let dmmf: Dmmf;
let columns: Column[];
let indexes: Index[];
let fks: ForeignKey[];
let dbName: string;

const tableOf = (m: Model): string => m.dbName ?? m.name;
const columnOf = (f: Field): string => f.dbName ?? f.name;
const byName = (m: Model) => new Map(m.fields.map((f) => [f.name, f]));

function expectedType(f: Field): string {
  const native = f.nativeType?.[0];
  if (f.isList) return 'text[]';
  switch (f.type) {
    case 'String': return native === 'Uuid' ? 'uuid' : 'text';
    case 'Int': return native === 'SmallInt' ? 'smallint' : 'integer';
    case 'BigInt': return 'bigint';
    case 'Boolean': return 'boolean';
    case 'DateTime': return native === 'Timestamptz' ? 'timestamp with time zone' : 'timestamp without time zone';
    case 'Json': return 'jsonb';
    default: return `unsupported:${f.type}`;
  }
}

beforeAll(async () => {
  dmmf = await getDMMF({ datamodel: readFileSync(path.join(__dirname, '..', '..', 'prisma', 'schema.prisma'), 'utf8') });
  const db = await createTestDatabase();
  dbName = db.name;
  const client = new Client({ connectionString: db.url });
  await client.connect();
  try {
    columns = (await client.query<Column>(`
      SELECT c.relname AS table, a.attname AS column, a.attnotnull AS "notNull", format_type(a.atttypid, NULL) AS type
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> '_prisma_migrations'`)).rows;
    indexes = (await client.query<Index>(`
      SELECT t.relname AS table, i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
             ix.indpred IS NOT NULL AS partial, am.amname AS method,
             array_agg(a.attname::text ORDER BY k.ord) AS cols
        FROM pg_index ix
        JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam
        CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
       WHERE n.nspname = 'public' AND t.relname <> '_prisma_migrations'
       GROUP BY t.relname, i.relname, ix.indisunique, ix.indisprimary, ix.indpred, am.amname`)).rows;
    fks = (await client.query<ForeignKey>(`
      SELECT c.conrelid::regclass::text AS table, c.confrelid::regclass::text AS "refTable",
             ARRAY(SELECT attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute ON attrelid = c.conrelid AND attnum = k.n ORDER BY o) AS cols,
             ARRAY(SELECT attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute ON attrelid = c.confrelid AND attnum = k.n ORDER BY o) AS "refCols"
        FROM pg_constraint c WHERE c.contype = 'f'`)).rows.map((r) => ({ ...r, table: r.table.replace(/"/g, ''), refTable: r.refTable.replace(/"/g, '') }));
  } finally {
    await client.end();
  }
});

afterAll(async () => {
  await dropTestDatabase(dbName);
});

it('every model is a table and every table is a model', () => {
  const modelTables = dmmf.datamodel.models.map(tableOf).sort();
  const dbTables = [...new Set(columns.map((c) => c.table))].sort();
  expect(dbTables).toEqual(modelTables);
});

it('every scalar field is a column of the right type and nullability, and no column is missing from the schema', () => {
  const problems: string[] = [];
  for (const m of dmmf.datamodel.models) {
    const table = tableOf(m);
    const scalar = m.fields.filter((f) => f.kind === 'scalar');
    for (const f of scalar) {
      const col = columns.find((c) => c.table === table && c.column === columnOf(f));
      if (!col) { problems.push(`${table}.${columnOf(f)} missing in database`); continue; }
      if (col.type !== expectedType(f)) problems.push(`${table}.${col.column}: database ${col.type}, schema ${expectedType(f)}`);
      const required = f.isRequired || f.isList;
      if (col.notNull !== required) problems.push(`${table}.${col.column}: database ${col.notNull ? 'NOT NULL' : 'NULL'}, schema ${required ? 'required' : 'optional'}`);
    }
    const known = new Set(scalar.map(columnOf));
    for (const c of columns.filter((x) => x.table === table && !known.has(x.column))) problems.push(`${table}.${c.column} missing in schema.prisma`);
  }
  expect(problems).toEqual([]);
});

it('every primary key, unique and index of the schema exists in the database, and vice versa', () => {
  const problems: string[] = [];
  const declared = new Set<string>();
  for (const idx of dmmf.datamodel.indexes) {
    const model = dmmf.datamodel.models.find((m) => m.name === idx.model)!;
    const fields = byName(model);
    const cols = idx.fields.map((f) => columnOf(fields.get(f.name)!));
    const table = tableOf(model);
    const match = indexes.find((i) => i.table === table && !i.partial && i.method === 'btree' && i.cols.join(',') === cols.join(',') &&
      (idx.type === 'id' ? i.primary : idx.type === 'unique' ? i.unique && !i.primary : !i.unique));
    if (!match) problems.push(`${table}(${cols.join(', ')}) ${idx.type} missing in database`);
    else declared.add(match.name);
  }
  // SQL-only indexes are allowed when Prisma cannot express them: partial or non-btree.
  for (const i of indexes.filter((x) => !declared.has(x.name) && !x.partial && x.method === 'btree')) {
    problems.push(`${i.table}.${i.name}(${i.cols.join(', ')}) exists in database but not in schema.prisma`);
  }
  expect(problems).toEqual([]);
});

it('every relation is a foreign key, and every foreign key is a relation', () => {
  const expected: string[] = [];
  for (const m of dmmf.datamodel.models) {
    const fields = byName(m);
    for (const f of m.fields.filter((x) => x.kind === 'object' && x.relationFromFields?.length)) {
      const target = dmmf.datamodel.models.find((x) => x.name === f.type)!;
      const targetFields = byName(target);
      expected.push(`${tableOf(m)}(${f.relationFromFields!.map((n) => columnOf(fields.get(n)!)).join(',')}) -> ${tableOf(target)}(${f.relationToFields!.map((n) => columnOf(targetFields.get(n)!)).join(',')})`);
    }
  }
  const actual = fks.map((k) => `${k.table}(${k.cols.join(',')}) -> ${k.refTable}(${k.refCols.join(',')})`);
  expect(actual.sort()).toEqual(expected.sort());
});
