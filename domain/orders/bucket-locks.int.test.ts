import { randomUUID, createHash } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { LOCK_BUCKETS } from './bucket-locks';
import { lockBuyerPhones } from './buyer-phone-lock';
import { lockShopifyCustomer, lockShopifyCustomers } from './customer-lock';

// A contact import's or a sync's chunk locks a thousand numbers and customers
// against the order and checkout webhooks; Postgres's lock table is shared by
// every shop, so the chunk must hold a bounded number of locks, and a webhook
// of one of its values must still wait for it.

describe('bucketed transaction locks', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  const hashes = (n: number): string[] => Array.from({ length: n }, () => createHash('sha256').update(randomUUID()).digest('hex'));
  const advisoryHeld = async (tx: Parameters<Parameters<TestEnv['db']['$transaction']>[0]>[0]): Promise<number> => {
    const [row] = await tx.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`;
    return row!.n;
  };

  it('a chunk of a thousand numbers and five hundred customers holds at most two sets of buckets', async () => {
    const shopId = randomUUID();
    const held = await env.db.$transaction(async (tx) => {
      await lockShopifyCustomers(tx, shopId, Array.from({ length: 500 }, (_, i) => String(7_000_000 + i)));
      await lockBuyerPhones(tx, shopId, hashes(1_000));
      return advisoryHeld(tx);
    });
    expect(held).toBeGreaterThan(LOCK_BUCKETS);
    expect(held).toBeLessThanOrEqual(2 * LOCK_BUCKETS);
  });

  it("a webhook's one number waits for the chunk that holds it, and another shop's does not", async () => {
    const shopId = randomUUID();
    const numbers = hashes(1_000);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const chunkLocked = new Promise<void>((r) => (locked = r));
    const chunk = env.db.$transaction(
      async (tx) => {
        await lockBuyerPhones(tx, shopId, numbers);
        await lockShopifyCustomers(tx, shopId, ['42']);
        locked();
        await gate;
      },
      { timeout: 20_000 },
    );
    await chunkLocked;
    const tryLock = (shop: string, fn: (tx: Parameters<Parameters<TestEnv['db']['$transaction']>[0]>[0]) => Promise<void>) =>
      env.db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '300ms'`);
        await fn(tx);
      });
    await expect(tryLock(shopId, (tx) => lockBuyerPhones(tx, shopId, [numbers[517]!]))).rejects.toThrow(/lock timeout/);
    await expect(tryLock(shopId, (tx) => lockShopifyCustomer(tx, shopId, '42'))).rejects.toThrow(/lock timeout/);
    const other = randomUUID();
    await expect(tryLock(other, (tx) => lockBuyerPhones(tx, other, [numbers[517]!]))).resolves.toBeUndefined();
    release();
    await chunk;
    await expect(tryLock(shopId, (tx) => lockBuyerPhones(tx, shopId, [numbers[517]!]))).resolves.toBeUndefined();
  });
});
