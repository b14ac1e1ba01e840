import { parseConfig } from './config';
import { createDb, isDbUnavailableError, join, sql, TransactionExpiredError, type Db } from './db';
import { createTestDatabase, dropTestDatabase } from '../test/db';

let db: Db;
let dbName: string;

beforeAll(async () => {
  const { name, url } = await createTestDatabase();
  dbName = name;
  db = createDb(parseConfig({ ...process.env, DATABASE_URL: url, DATABASE_POOL_SIZE: '2' }));
  await db.$executeRaw`CREATE TABLE scratch (id int PRIMARY KEY, n bigint NOT NULL, at timestamptz, doc jsonb, tags text[])`;
});

afterAll(async () => {
  await db.$disconnect();
  await dropTestDatabase(dbName);
});

beforeEach(async () => {
  await db.$executeRaw`TRUNCATE scratch`;
});

const count = async (): Promise<number> => Number((await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM scratch`)[0]?.n);

describe('the pg-backed Db', () => {
  it('returns values in the types the domain relies on: int8 as BigInt, timestamptz as Date, jsonb parsed, arrays as arrays', async () => {
    const at = new Date('2026-03-29T01:30:00.123Z');
    await db.$executeRaw`INSERT INTO scratch VALUES (1, ${9_007_199_254_740_993n}, ${at}, ${JSON.stringify({ a: [1, 'x'] })}::jsonb, ${['vip', 'eu']}::text[])`;
    const [row] = await db.$queryRaw<{ n: bigint; at: Date; doc: unknown; tags: string[]; ids: bigint[] }[]>`
      SELECT n, at, doc, tags, ARRAY[n, 2]::bigint[] AS ids FROM scratch WHERE id = ${1}::int`;
    expect(row).toEqual({ n: 9_007_199_254_740_993n, at, doc: { a: [1, 'x'] }, tags: ['vip', 'eu'], ids: [9_007_199_254_740_993n, 2n] });
  });

  it('composes fragments and reports affected rows', async () => {
    const ids = [1, 2, 3];
    const n = await db.$executeRaw`INSERT INTO scratch (id, n) SELECT i, i * 10 FROM unnest(${ids}::int[]) i`;
    expect(n).toBe(3);
    const where = sql`id IN (${join([1, 3])})`;
    const rows = await db.$queryRaw<{ id: number }[]>(sql`SELECT id FROM scratch WHERE ${where} ORDER BY id`);
    expect(rows).toEqual([{ id: 1 }, { id: 3 }]);
    expect(await db.$executeRawUnsafe('DELETE FROM scratch WHERE id = $1', 2)).toBe(1);
  });

  it('commits when the function resolves and rolls everything back when it throws', async () => {
    await db.$transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (1, 1)`;
    });
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (2, 2)`;
        throw new Error('business rule says no');
      }),
    ).rejects.toThrow('business rule says no');
    expect(await count()).toBe(1);
  });

  it('surfaces a constraint violation with its Postgres code and leaves nothing behind', async () => {
    const err = await db
      .$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (5, 1)`;
        await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (5, 2)`;
      })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('23505');
    expect(isDbUnavailableError(err)).toBe(false);
    expect(await count()).toBe(0);
  });

  it('rolls back a transaction that outlives its timeout, and the error reads as overload (503)', async () => {
    const err = await db
      .$transaction(
        async (tx) => {
          await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (7, 7)`;
          await tx.$executeRaw`SELECT pg_sleep(0.3)`;
          await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (8, 8)`;
        },
        { timeout: 100 },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionExpiredError);
    expect(isDbUnavailableError(err)).toBe(true);
    expect(await count()).toBe(0);
  });

  it('returns every connection to the pool, whatever the outcome (a pool of 2 survives 20 mixed transactions)', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        db.$transaction(async (tx) => {
          await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (${i}::int, ${i}::int)`;
          if (i % 2) throw new Error('odd');
        }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(10);
    expect(await count()).toBe(10);
    expect(db.pool.totalCount).toBeLessThanOrEqual(2);
    expect(db.pool.waitingCount).toBe(0);
  });

  it('survives its connection being killed between two statements of a transaction: the transaction fails, the process and the pool carry on', async () => {
    const errors: unknown[] = [];
    const onUncaught = (e: unknown): void => {
      errors.push(e);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const outcome = await db
        .$transaction(async (tx) => {
          const [row] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
          const pid = row!.pid;
          await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (40, 40)`;
          // Another session ends ours while we hold it between statements (a server restart, a failover).
          await db.$queryRaw`SELECT pg_terminate_backend(${pid}::int)`;
          await new Promise((r) => setTimeout(r, 100));
          await tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (41, 41)`;
        })
        .then(
          () => 'committed',
          (e: unknown) => e,
        );
      expect(outcome).not.toBe('committed');
      expect(isDbUnavailableError(outcome)).toBe(true);
      expect(errors).toEqual([]);
      expect(await count()).toBe(0);
      // The dead connection was discarded: the pool serves the next transactions.
      for (let i = 0; i < 4; i++) await db.$transaction((tx) => tx.$executeRaw`INSERT INTO scratch (id, n) VALUES (${50 + i}::int, 1)`);
      expect(await count()).toBe(4);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
