import fc from 'fast-check';
import { createCampaign, createShop, phoneHash } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { disableQuietHours } from '../../test/sending';
import { claimIdempotencyKey } from '../idempotency/claim-key';
import { fencedGuard } from '../idempotency/guard';
import { audienceSchema } from './campaign-input';
import { enqueueCampaign } from './enqueue-campaign';
import { launchCampaign } from './launch-campaign';
import { previewCampaign } from './preview-campaign';

const t = useTestEnv();

// Random contacts with random order summaries, random audiences with order
// filters: the estimate (preview), the reservation's count (enqueue) and the
// recipients launch materialises must all be the contacts a plain reading of
// the filter selects.

const TAGS = ['vip', 'new', 'eu'];
const T0 = Date.parse('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

interface ModelContact {
  consent: 'subscribed' | 'pending' | 'unsubscribed';
  optedOut: boolean;
  erased: boolean;
  tags: string[];
  ordersSeen: number;
  shopifyOrders: number;
  amountSeen: number;
  shopifyAmount: number;
  lastOrderDay: number | null;
}

const contactArb: fc.Arbitrary<ModelContact> = fc.record({
  consent: fc.constantFrom('subscribed', 'subscribed', 'subscribed', 'pending', 'unsubscribed'),
  optedOut: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  erased: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  tags: fc.subarray(TAGS),
  ordersSeen: fc.integer({ min: 0, max: 6 }),
  shopifyOrders: fc.integer({ min: 0, max: 6 }),
  amountSeen: fc.integer({ min: 0, max: 50_000 }),
  shopifyAmount: fc.integer({ min: 0, max: 50_000 }),
  lastOrderDay: fc.option(fc.integer({ min: 0, max: 60 }), { nil: null }),
});

/**
 * An inclusive range whose bounds are values the contacts hold (or one off),
 * so boundaries are hit: `>` for `>=` would be caught. Either bound may be
 * missing, not both; swapped when min > max.
 */
function rangeOf(values: number[]): fc.Arbitrary<{ min?: number; max?: number } | undefined> {
  const pick = fc.oneof(fc.constantFrom(...values), fc.constantFrom(...values).map((v) => v + 1), fc.constantFrom(...values).map((v) => Math.max(0, v - 1)));
  return fc.option(
    fc
      .tuple(fc.option(pick, { nil: undefined }), fc.option(pick, { nil: undefined }))
      .filter(([a, b]) => a !== undefined || b !== undefined)
      .map(([a, b]) => (a !== undefined && b !== undefined && a > b ? [b, a] : [a, b]))
      .map(([a, b]) => ({ ...(a !== undefined ? { min: a } : {}), ...(b !== undefined ? { max: b } : {}) })),
    { nil: undefined, freq: 2 },
  );
}

const day = (d: number): string => new Date(T0 + d * DAY).toISOString();

function audienceFor(contacts: ModelContact[]): fc.Arbitrary<Audience> {
  const days = contacts.map((c) => c.lastOrderDay ?? 30);
  return fc
    .record({
      tags: fc.option(fc.subarray(TAGS, { minLength: 1 }), { nil: undefined, freq: 2 }),
      ordersCount: rangeOf(contacts.map((c) => Math.max(c.ordersSeen, c.shopifyOrders))),
      amountSpent: rangeOf(contacts.map((c) => Math.max(c.amountSeen, c.shopifyAmount))),
      lastOrderAt: rangeOf(days).map((r) => (r ? { ...(r.min !== undefined ? { from: day(r.min) } : {}), ...(r.max !== undefined ? { to: day(r.max) } : {}) } : undefined)),
    })
    .map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Audience);
}

type Audience = { tags?: string[]; ordersCount?: { min?: number; max?: number }; amountSpent?: { min?: number; max?: number }; lastOrderAt?: { from?: string; to?: string } };

/** The filter read plainly, as a merchant would: the reference the SQL must agree with. */
function selects(c: ModelContact, a: Audience): boolean {
  if (c.consent !== 'subscribed' || c.optedOut || c.erased) return false;
  if (a.tags && !a.tags.some((tag) => c.tags.includes(tag))) return false;
  const orders = Math.max(c.ordersSeen, c.shopifyOrders);
  const spent = Math.max(c.amountSeen, c.shopifyAmount);
  const inRange = (v: number, r?: { min?: number; max?: number }) => !r || ((r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max));
  if (!inRange(orders, a.ordersCount) || !inRange(spent, a.amountSpent)) return false;
  if (a.lastOrderAt) {
    if (c.lastOrderDay === null) return false;
    const at = T0 + c.lastOrderDay * DAY;
    if (a.lastOrderAt.from && at < Date.parse(a.lastOrderAt.from)) return false;
    if (a.lastOrderAt.to && at > Date.parse(a.lastOrderAt.to)) return false;
  }
  return true;
}

let phoneSeq = 0;
async function insertContacts(shopId: string, contacts: ModelContact[]): Promise<string[]> {
  const ids: string[] = [];
  for (const c of contacts) {
    const phone = `+1201${3_000_000 + phoneSeq++}`;
    const [row] = await t.env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, sms_consent, tags, opted_out_at, opt_out_source, erased_at,
                            orders_seen, shopify_orders_count, amount_seen_minor, shopify_amount_spent_minor, amount_spent_currency, last_order_at)
      VALUES (${shopId}::uuid, ${c.erased ? null : phone}, ${phoneHash(phone)}, ${c.erased ? null : 'Ada'}, ${c.consent}, ${c.tags}::text[],
              ${c.optedOut ? new Date() : null}, ${c.optedOut ? 'keyword' : null}, ${c.erased ? new Date() : null},
              ${c.ordersSeen}, ${c.shopifyOrders}, ${c.amountSeen}::bigint, ${c.shopifyAmount}::bigint, 'USD',
              ${c.lastOrderDay === null ? null : new Date(T0 + c.lastOrderDay * DAY)})
      RETURNING id`;
    ids.push(row!.id);
  }
  return ids;
}

describe('audience with order filters: preview, enqueue and launch agree', () => {
  it('estimate == reserved recipients == launched recipients == the contacts the filter names (property)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(contactArb, { minLength: 1, maxLength: 20 }).chain((cs) => fc.tuple(fc.constant(cs), audienceFor(cs))), async ([contacts, raw]) => {
        const audience = audienceSchema.parse(raw) as Audience;
        const shop = await createShop(t.env.db, { credits: 100_000 });
        await disableQuietHours(t.env.db, shop.id);
        const ids = await insertContacts(shop.id, contacts);
        const expected = ids.filter((_, i) => selects(contacts[i]!, audience)).sort();
        const campaign = await createCampaign(t.env.db, shop.id, { audience });

        const preview = await previewCampaign(t.env.db, { shopId: shop.id, campaignId: campaign.id });
        const c = await claimIdempotencyKey(
          t.env.db,
          { shopId: shop.id, method: 'POST', route: '/api/campaigns/:id/enqueue', key: `prop-${run++}` },
          { fingerprint: 'fp', leaseMs: 60_000, abandonedTtlMs: 60_000 },
        );
        if (c.kind !== 'claimed') throw new Error('expected a fresh claim');
        const guard = fencedGuard({ id: c.id, fence: c.fence }, { leaseMs: 60_000, completedTtlMs: 3_600_000 });
        const enqueued = await enqueueCampaign(t.deps, { shopId: shop.id, campaignId: campaign.id, guard, traceId: 'prop', now: new Date(), responseStatus: 202 });
        const launched = await launchCampaign({ db: t.env.db, producer: t.deps.producer, now: () => new Date(), batchSize: 7 }, { campaignId: campaign.id, shopId: shop.id, traceId: 'prop' });
        const recipients = await t.env.db.$queryRaw<{ contact_id: string }[]>`
          SELECT contact_id FROM campaign_recipients WHERE campaign_id = ${campaign.id}::uuid ORDER BY contact_id`;

        expect(preview.recipients).toBe(expected.length);
        expect(enqueued.result.recipients).toBe(expected.length);
        expect(launched).toMatchObject({ outcome: 'launched', recipients: expected.length });
        expect(recipients.map((r) => r.contact_id).sort()).toEqual(expected);
        // The reservation covers what was launched.
        expect(enqueued.result.creditsReserved).toBeGreaterThanOrEqual(expected.length);
      }),
      { numRuns: 80 },
    );
  });

  it('uses the audience_stats fast path without order filters and one counted pass with them', async () => {
    const shop = await createShop(t.env.db, { credits: 1_000 });
    await insertContacts(shop.id, [
      { consent: 'subscribed', optedOut: false, erased: false, tags: ['vip'], ordersSeen: 3, shopifyOrders: 0, amountSeen: 9_000, shopifyAmount: 0, lastOrderDay: 10 },
      { consent: 'subscribed', optedOut: false, erased: false, tags: ['vip'], ordersSeen: 0, shopifyOrders: 0, amountSeen: 0, shopifyAmount: 0, lastOrderDay: null },
    ]);
    // The stats row is the whole-shop fast path: corrupt it, and only an audience without order filters reads it.
    await t.env.db.$executeRaw`UPDATE audience_stats SET contacts = 99 WHERE shop_id = ${shop.id}::uuid AND tag = 'vip'`;
    const plain = await createCampaign(t.env.db, shop.id, { audience: { tags: ['vip'] } });
    const ordered = await createCampaign(t.env.db, shop.id, { audience: { tags: ['vip'], ordersCount: { min: 1 } } });
    expect((await previewCampaign(t.env.db, { shopId: shop.id, campaignId: plain.id })).recipients).toBe(99);
    expect((await previewCampaign(t.env.db, { shopId: shop.id, campaignId: ordered.id })).recipients).toBe(1);
  });
});
