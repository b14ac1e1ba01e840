import { randomUUID } from 'node:crypto';
import { createContact, createShop } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { rid } from '../../test/webhooks';
import { campaignPerformance } from '../campaigns/campaign-performance';
import { recordClicks, type ClickRecord } from './record-clicks';

describe('campaign_click_counts', () => {
  const t = useTestEnv();

  async function campaignWithRecipients(n: number): Promise<{ shopId: string; campaignId: string; recipients: number[] }> {
    const shop = await createShop(t.env.db);
    const [c] = await t.env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Clicks', 'Sale https://x.example/s', 'completed') RETURNING id`;
    const recipients: number[] = [];
    for (let i = 0; i < n; i++) {
      const contact = await createContact(t.env.db, shop.id, { phone: `+4479111${String(20000 + i).padStart(5, '0')}` });
      const [r] = await t.env.db.$queryRaw<{ id: bigint }[]>`
        INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
        VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0, 'delivered', ${rid('sim')}, 1, now(), now()) RETURNING id`;
      recipients.push(Number(r!.id));
    }
    return { shopId: shop.id, campaignId: c!.id, recipients };
  }

  const click = (campaignId: string, recipientId: number, bot = false): ClickRecord => ({
    id: randomUUID(), campaignId, recipientId, linkIndex: 0, clickedAt: new Date(), uaClass: bot ? 'preview' : 'ios', bot,
  });

  async function kept(campaignId: string) {
    const [k] = await t.env.db.$queryRaw<{ clicks: bigint; unique_clicks: bigint; bot_clicks: bigint }[]>`
      SELECT clicks, unique_clicks, bot_clicks FROM campaign_click_counts WHERE campaign_id = ${campaignId}::uuid`;
    return k ? { clicks: Number(k.clicks), unique: Number(k.unique_clicks), bots: Number(k.bot_clicks) } : null;
  }

  async function recount(campaignId: string) {
    const [k] = await t.env.db.$queryRaw<{ clicks: bigint; uniq: bigint; bots: bigint }[]>`
      SELECT count(*) FILTER (WHERE NOT bot) AS clicks, count(*) FILTER (WHERE first) AS uniq, count(*) FILTER (WHERE bot) AS bots
        FROM link_clicks WHERE campaign_id = ${campaignId}::uuid`;
    return { clicks: Number(k!.clicks), unique: Number(k!.uniq), bots: Number(k!.bots) };
  }

  it('equal a recount of the clicks, through repeats, bots, racing flushes and a second campaign', async () => {
    const a = await campaignWithRecipients(4);
    const b = await campaignWithRecipients(2);
    expect(await kept(a.campaignId)).toBeNull();

    const first = [click(a.campaignId, a.recipients[0]!), click(a.campaignId, a.recipients[0]!), click(a.campaignId, a.recipients[1]!, true), click(b.campaignId, b.recipients[0]!)];
    await recordClicks(t.env.db, first);
    // The same flush again (a retried one) inserts nothing and counts nothing.
    await recordClicks(t.env.db, first);
    // Two api processes flushing the same recipients' first clicks at once: one is first.
    await Promise.all([
      recordClicks(t.env.db, [click(a.campaignId, a.recipients[2]!), click(a.campaignId, a.recipients[3]!, true)]),
      recordClicks(t.env.db, [click(a.campaignId, a.recipients[2]!), click(b.campaignId, b.recipients[1]!)]),
    ]);

    expect(await kept(a.campaignId)).toEqual({ clicks: 4, unique: 2, bots: 2 });
    expect(await kept(a.campaignId)).toEqual(await recount(a.campaignId));
    expect(await kept(b.campaignId)).toEqual({ clicks: 2, unique: 2, bots: 0 });
    expect(await kept(b.campaignId)).toEqual(await recount(b.campaignId));

    // What the stats and the list show is what is kept; another shop reads nothing of it.
    const perf = await campaignPerformance(t.env.db, a.shopId, [{ id: a.campaignId, messages: 4, credits: 4 }]);
    expect(perf.get(a.campaignId)).toMatchObject({ clicks: 4, uniqueClicks: 2, botClicks: 2, clickRate: 0.5 });
    const other = await campaignPerformance(t.env.db, b.shopId, [{ id: a.campaignId, messages: 4, credits: 4 }]);
    expect(other.get(a.campaignId)).toMatchObject({ clicks: 0, uniqueClicks: 0, botClicks: 0 });
  });

  it('refuses a change of what they count, and goes with its campaign', async () => {
    const a = await campaignWithRecipients(1);
    await recordClicks(t.env.db, [click(a.campaignId, a.recipients[0]!)]);
    await expect(t.env.db.$executeRaw`UPDATE link_clicks SET bot = true WHERE campaign_id = ${a.campaignId}::uuid`).rejects.toThrow(/fixed once written/);
    // Erasure's write (the contact forgotten) is not one of them.
    await t.env.db.$executeRaw`UPDATE link_clicks SET contact_id = NULL WHERE campaign_id = ${a.campaignId}::uuid`;
    expect(await kept(a.campaignId)).toEqual({ clicks: 1, unique: 1, bots: 0 });
    await t.env.db.$executeRaw`DELETE FROM campaigns WHERE id = ${a.campaignId}::uuid`;
    expect(await kept(a.campaignId)).toBeNull();
  });
});
