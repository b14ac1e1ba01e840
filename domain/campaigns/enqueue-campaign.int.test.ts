import { createCampaign, createContact, createShop } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { claimIdempotencyKey } from '../idempotency/claim-key';
import { fencedGuard, type JsonResponse } from '../idempotency/guard';
import { enqueueCampaign } from './enqueue-campaign';
import { estimateAudience, estimateFromStats } from './estimate-audience';
import { readEnqueueContext } from './read-enqueue-context';

const t = useTestEnv();

async function claim(shopId: string, key: string): Promise<{ id: string; fence: number }> {
  const c = await claimIdempotencyKey(t.env.db, { shopId, method: 'POST', route: '/api/campaigns/:id/enqueue', key }, { fingerprint: `fp-${key}`, leaseMs: 60_000, abandonedTtlMs: 60_000 });
  if (c.kind !== 'claimed') throw new Error(`expected a fresh claim, got ${c.kind}`);
  return { id: c.id, fence: c.fence };
}

async function keyRow(id: string): Promise<{ status: string; response_status: number | null; response_body: unknown; response_headers: unknown }> {
  const [row] = await t.env.db.$queryRaw<{ status: string; response_status: number | null; response_body: unknown; response_headers: unknown }[]>`
    SELECT status, response_status, response_body, response_headers FROM idempotency_keys WHERE id = ${id}::uuid`;
  return row!;
}

describe('enqueueCampaign: the draft statement stores the response with the outcome', () => {
  it('completes the key in the same statement, with exactly the body the caller sends', async () => {
    const shop = await createShop(t.env.db, { credits: 100 });
    for (let i = 0; i < 3; i++) await createContact(t.env.db, shop.id);
    const campaign = await createCampaign(t.env.db, shop.id, { name: 'Stored with its outcome' });
    const held = await claim(shop.id, 'one-statement');
    const reported: JsonResponse[] = [];
    const guard = fencedGuard(held, { leaseMs: 60_000, completedTtlMs: 3_600_000, onStored: (r) => reported.push(r) });

    const out = await enqueueCampaign(t.deps, { shopId: shop.id, campaignId: campaign.id, guard, traceId: 'trace-one-statement', now: new Date(), responseStatus: 202 });

    // No settle step ran: the key is already completed, holding the bytes the route sends.
    const row = await keyRow(held.id);
    expect(row).toMatchObject({ status: 'completed', response_status: 202, response_headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(row.response_body).toBe(out.responseBody);
    expect(reported).toEqual([{ status: 202, body: out.responseBody }]);
    expect(JSON.parse(out.responseBody)).toEqual(out.result);
    expect(out.result).toMatchObject({ recipients: 3, creditsReserved: 3, campaign: { id: campaign.id, name: 'Stored with its outcome', status: 'queued' } });

    // The stored body is the row as written.
    const [c] = await t.env.db.$queryRaw<{ status: string; updated_at: Date }[]>`SELECT status, updated_at FROM campaigns WHERE id = ${campaign.id}::uuid`;
    expect(c!.status).toBe('queued');
    expect(out.result.campaign.updatedAt).toBe(c!.updated_at.toISOString());
  });

  it('stores nothing when the campaign cannot be enqueued: the key stays in progress for the middleware to fail', async () => {
    const shop = await createShop(t.env.db, { credits: 100 });
    await createContact(t.env.db, shop.id);
    const campaign = await createCampaign(t.env.db, shop.id, { status: 'cancelled' });
    const held = await claim(shop.id, 'not-enqueueable');
    const reported: JsonResponse[] = [];
    const guard = fencedGuard(held, { leaseMs: 60_000, completedTtlMs: 3_600_000, onStored: (r) => reported.push(r) });
    await expect(enqueueCampaign(t.deps, { shopId: shop.id, campaignId: campaign.id, guard, traceId: 'x', now: new Date(), responseStatus: 202 })).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect((await keyRow(held.id)).status).toBe('in_progress');
    expect(reported).toEqual([]);
  });

  it('stores nothing when the credits do not cover it (the CHECK takes the whole statement back)', async () => {
    const shop = await createShop(t.env.db, { credits: 1 });
    for (let i = 0; i < 2; i++) await createContact(t.env.db, shop.id);
    const campaign = await createCampaign(t.env.db, shop.id);
    const held = await claim(shop.id, 'too-poor');
    const guard = fencedGuard(held, { leaseMs: 60_000, completedTtlMs: 3_600_000 });
    await expect(enqueueCampaign(t.deps, { shopId: shop.id, campaignId: campaign.id, guard, traceId: 'x', now: new Date(), responseStatus: 202 })).rejects.toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    expect((await keyRow(held.id)).status).toBe('in_progress');
    const [c] = await t.env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${campaign.id}::uuid`;
    expect(c!.status).toBe('draft');
  });

  it('a key taken over before the statement: nothing is written and nothing stored', async () => {
    const shop = await createShop(t.env.db, { credits: 100 });
    await createContact(t.env.db, shop.id);
    const campaign = await createCampaign(t.env.db, shop.id);
    const held = await claim(shop.id, 'taken-over');
    await t.env.db.$executeRaw`UPDATE idempotency_keys SET fence = fence + 1 WHERE id = ${held.id}::uuid`;
    const guard = fencedGuard(held, { leaseMs: 60_000, completedTtlMs: 3_600_000 });
    await expect(enqueueCampaign(t.deps, { shopId: shop.id, campaignId: campaign.id, guard, traceId: 'x', now: new Date(), responseStatus: 202 })).rejects.toMatchObject({ code: 'REQUEST_IN_PROGRESS' });
    expect((await keyRow(held.id)).status).toBe('in_progress');
    const [c] = await t.env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${campaign.id}::uuid`;
    expect(c!.status).toBe('draft');
  });
});

describe('readEnqueueContext', () => {
  it.each([
    ['no tags (every sendable contact)', {}],
    ['one tag', { tags: ['vip'] }],
    ['two tags, a contact in both counted once', { tags: ['vip', 'new'] }],
    ['a repeated tag', { tags: ['vip', 'vip'] }],
    ['non-string tags are ignored', { tags: ['vip', 7, null] }],
    ['tags that are not a list', { tags: 'vip' }],
  ])('reads the same audience figures as estimateAudience: %s', async (_name, audience) => {
    const shop = await createShop(t.env.db, { credits: 100 });
    await createContact(t.env.db, shop.id, { tags: ['vip'], firstName: 'Bartholomew' });
    await createContact(t.env.db, shop.id, { tags: ['vip', 'new'] });
    await createContact(t.env.db, shop.id, { tags: ['new'], lastName: 'Ünal' });
    await createContact(t.env.db, shop.id, { tags: [] });
    const campaign = await createCampaign(t.env.db, shop.id, { audience });
    const read = await readEnqueueContext(t.env.db, campaign.id, shop.id);
    expect(read).not.toBeNull();
    expect(read!.stats).toBeDefined();
    const { ctx } = read!;
    const input = { shopId: shop.id, body: ctx.body, tags: ctx.audienceTags, orders: ctx.audienceOrders, shopName: ctx.shopName, optOutFooter: ctx.optOutFooter };
    expect(await estimateFromStats(t.env.db, read!.stats, input)).toEqual(await estimateAudience(t.env.db, input));
  });

  it('is null for another shop\'s campaign', async () => {
    const a = await createShop(t.env.db);
    const b = await createShop(t.env.db);
    const campaign = await createCampaign(t.env.db, a.id);
    expect(await readEnqueueContext(t.env.db, campaign.id, b.id)).toBeNull();
  });
});
