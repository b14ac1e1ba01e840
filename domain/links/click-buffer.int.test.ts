import { randomUUID } from 'node:crypto';
import { createDb, type Db } from '../../lib/db';
import { createMetrics } from '../../lib/metrics';
import { recordShopifyOrder } from '../orders/record-order';
import { createContact, createShop } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { ClickBuffer } from './click-buffer';
import type { ClickRecord } from './record-clicks';

// The click buffer writes at least once and never twice: a flush that fails
// (the database went away mid-flush) keeps its clicks for the next one, a
// retried flush of clicks already written adds nothing, and a full buffer
// drops (and counts) rather than grows.

describe('ClickBuffer', () => {
  const t = useTestEnv();

  async function recipient(): Promise<{ campaignId: string; recipientId: number; shopId: string; phone: string }> {
    const shop = await createShop(t.env.db);
    const contact = await createContact(t.env.db, shop.id);
    const [c] = await t.env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'c', 'https://x.example', 'completed') RETURNING id`;
    const [r] = await t.env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0) RETURNING id`;
    return { campaignId: c!.id, recipientId: Number(r!.id), shopId: shop.id, phone: contact.phone };
  }

  const click = (to: { campaignId: string; recipientId: number }, bot = false): ClickRecord => ({
    id: randomUUID(),
    campaignId: to.campaignId,
    recipientId: to.recipientId,
    linkIndex: 0,
    clickedAt: new Date(),
    uaClass: bot ? 'preview' : 'ios',
    bot,
  });

  const rows = async (campaignId: string): Promise<number> =>
    Number((await t.env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM link_clicks WHERE campaign_id = ${campaignId}::uuid`)[0]!.n);

  it('keeps the clicks of a failed flush and writes them, once, on the next', async () => {
    const to = await recipient();
    // The first transaction fails as a lost connection would; the next ones reach Postgres.
    let failures = 1;
    const flaky: Db = Object.create(t.env.db) as Db;
    flaky.$transaction = (fn, o) => (failures-- > 0 ? Promise.reject(new Error('Connection terminated unexpectedly')) : t.env.db.$transaction(fn, o));
    const metrics = createMetrics();
    const buffer = new ClickBuffer(flaky, { metrics });
    const first = click(to);
    buffer.add(first);
    buffer.add(click(to, true));
    await buffer.flush();
    expect(buffer.size).toBe(2);
    expect(await rows(to.campaignId)).toBe(0);
    expect((await metrics.linkClickFlushFailures.get()).values[0]?.value).toBe(1);

    await buffer.flush();
    expect(buffer.size).toBe(0);
    expect(await rows(to.campaignId)).toBe(2);
    // The same click flushed again (a flush whose commit was not acknowledged) is not a second click.
    buffer.add(first);
    await buffer.close();
    expect(await rows(to.campaignId)).toBe(2);
    const human = (await metrics.linkClicks.get()).values.find((v) => v.labels.kind === 'human')?.value;
    expect(human).toBe(1);
  });

  it('is bounded: past `max` a click is dropped and counted, not buffered', async () => {
    const to = await recipient();
    const metrics = createMetrics();
    const buffer = new ClickBuffer(t.env.db, { max: 3, batchSize: 100, metrics });
    const accepted = [1, 2, 3, 4, 5].map(() => buffer.add(click(to)));
    expect(accepted).toEqual([true, true, true, false, false]);
    expect((await metrics.linkClicksDropped.get()).values.find((v) => v.labels.reason === 'buffer_full')?.value).toBe(2);
    await buffer.close();
    expect(await rows(to.campaignId)).toBe(3);
  });

  const gauge = async (g: { get(): Promise<{ values: { value: number }[] }> }): Promise<number | undefined> => (await g.get()).values[0]?.value;

  const attributions = async (shopId: string): Promise<number> =>
    Number((await t.env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM order_attributions WHERE shop_id = ${shopId}::uuid`)[0]!.n);

  it('a flush blocked by a table lock times out, is counted, keeps its clicks (backlog reported), and writes them and their order attribution once when the lock goes', async () => {
    const to = await recipient();
    // The api's pool, with a statement timeout short enough for a test (production: DATABASE_STATEMENT_TIMEOUT_MS).
    const db = createDb({ ...t.env.config, DATABASE_POOL_SIZE: 2, DATABASE_STATEMENT_TIMEOUT_MS: 300 });
    const holder = await t.env.db.pool.connect();
    try {
      const metrics = createMetrics();
      const buffer = new ClickBuffer(db, { metrics });
      const clickedAt = new Date(Date.now() - 5_000);
      const human = { ...click(to), clickedAt };
      buffer.add(human);
      buffer.add(click(to, true));
      // The order came after the click and before its flush: the flush attributes it.
      await t.env.db.$transaction((tx) =>
        recordShopifyOrder(tx, {
          shopId: to.shopId, orderId: `o-${randomUUID()}`, customerId: null, phones: [to.phone], totalPrice: '12.00', currency: 'USD',
          orderedAt: new Date(clickedAt.getTime() + 1_000), landingSite: null, referringSite: null, sourceName: 'web', discountCodes: [],
        }),
      );

      // A migration (or a long manual statement) holds the table.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE link_clicks IN ACCESS EXCLUSIVE MODE');
      await buffer.flush();
      await buffer.flush();
      expect(await gauge(metrics.linkClickFlushFailures)).toBe(2);
      expect(buffer.size).toBe(2);
      expect(await gauge(metrics.linkClicksBuffered)).toBe(2);
      expect(await gauge(metrics.linkClickBufferAge)).toBeGreaterThanOrEqual(5);

      await holder.query('ROLLBACK');
      await buffer.flush();
      expect(buffer.size).toBe(0);
      expect(await gauge(metrics.linkClicksBuffered)).toBe(0);
      expect(await gauge(metrics.linkClickBufferAge)).toBe(0);
      expect(await rows(to.campaignId)).toBe(2);
      expect(await attributions(to.shopId)).toBe(1);
      // A retried flush of the same click (its commit unacknowledged) counts nothing more.
      buffer.add(human);
      await buffer.close();
      expect(await rows(to.campaignId)).toBe(2);
      expect(await attributions(to.shopId)).toBe(1);
      expect((await metrics.linkClicks.get()).values.find((v) => v.labels.kind === 'human')?.value).toBe(1);
      expect((await metrics.attributedOrders.get()).values.find((v) => v.labels.kind === 'click')?.value).toBe(1);
      expect(await gauge(metrics.linkClickFlushFailures)).toBe(2);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      await db.$disconnect();
    }
  });

  it('a flush while Postgres is unreachable (connection refused) is counted and retried; nothing is lost or written twice', async () => {
    const to = await recipient();
    // Nothing listens on port 1: every connection attempt is refused, as when Postgres is down.
    const url = new URL(t.env.config.DATABASE_URL);
    url.port = '1';
    const down = createDb({ ...t.env.config, DATABASE_URL: url.toString() });
    let target: Db = down;
    const switchable: Db = Object.create(t.env.db) as Db;
    switchable.$transaction = (fn, o) => target.$transaction(fn, o);
    try {
      const metrics = createMetrics();
      const buffer = new ClickBuffer(switchable, { metrics });
      const clicks = [click(to), click(to), click(to, true)];
      for (const c of clicks) buffer.add(c);
      await buffer.flush();
      expect(await gauge(metrics.linkClickFlushFailures)).toBe(1);
      expect(buffer.size).toBe(3);
      expect(await gauge(metrics.linkClicksBuffered)).toBe(3);
      expect(await rows(to.campaignId)).toBe(0);

      target = t.env.db;
      await buffer.flush();
      expect(buffer.size).toBe(0);
      expect(await rows(to.campaignId)).toBe(3);
      const firsts = await t.env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM link_clicks WHERE campaign_id = ${to.campaignId}::uuid AND first`;
      expect(Number(firsts[0]!.n)).toBe(1);
      for (const c of clicks) buffer.add(c);
      await buffer.close();
      expect(await rows(to.campaignId)).toBe(3);
      expect((await metrics.linkClicks.get()).values.find((v) => v.labels.kind === 'human')?.value).toBe(2);
      expect((await metrics.linkClicks.get()).values.find((v) => v.labels.kind === 'bot')?.value).toBe(1);
    } finally {
      await down.$disconnect();
    }
  });
});
