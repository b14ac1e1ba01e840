import { randomUUID } from 'node:crypto';
import type { Db } from '../../lib/db';
import { createMetrics } from '../../lib/metrics';
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

  async function recipient(): Promise<{ campaignId: string; recipientId: number }> {
    const shop = await createShop(t.env.db);
    const contact = await createContact(t.env.db, shop.id);
    const [c] = await t.env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'c', 'https://x.example', 'completed') RETURNING id`;
    const [r] = await t.env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0) RETURNING id`;
    return { campaignId: c!.id, recipientId: Number(r!.id) };
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
});
