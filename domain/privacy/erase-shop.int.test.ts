import { jobIds } from '../../queue/job-ids';
import { createShop, type ShopFixture } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { waitFor } from '../../test/sending';
import { seedShopData, shopRowCounts, type SeededIds } from '../../test/shop-data';
import { rowsMentioning } from '../../test/webhooks';
import { eraseShop, eraseShopChunk } from './erase-shop';
import { requestShopErasure } from './request-shop-erasure';
import { ERASURE_STEPS } from './shop-erasure-steps';

// shop/redact's erasure in chunks: nothing of the shop survives it, nothing
// of another shop is touched, and an erasure stopped anywhere completes when
// its job runs again.

const t = useTestEnv();

async function seededShop(): Promise<{ shop: ShopFixture; ids: SeededIds }> {
  const shop = await createShop(t.env.db, { credits: 0 });
  const ids = await seedShopData(t.env.db, shop.id, { contacts: 12, campaigns: 2, clicksPerContact: 2, flowEvery: 2 });
  return { shop, ids };
}

async function requestErasure(shop: ShopFixture): Promise<void> {
  const r = await t.env.db.$transaction((tx) => requestShopErasure(tx, { shopDomain: shop.domain, traceId: 'test' }));
  expect(r.shopId).toBe(shop.id);
}

const shopsWithShopIdColumn = async (): Promise<string[]> =>
  (
    await t.env.db.$queryRaw<{ table: string }[]>`
      SELECT c.relname AS table FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace s ON s.oid = c.relnamespace
       WHERE s.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'shop_id' AND NOT a.attisdropped ORDER BY 1`
  ).map((r) => r.table);

it('leaves nothing of the shop in any table, in chunks of 3 rows, and leaves another shop as it was', async () => {
  const { shop, ids } = await seededShop();
  const other = await seededShop();
  const before = await shopRowCounts(t.env.db, shop.id, ids);
  // Rows in every table that names a shop (a table added later fails here until the seed and the steps cover it).
  const everyTable = [...(await shopsWithShopIdColumn()), 'shops', 'campaign_recipients (by campaign)', 'campaign_batches (by campaign)', 'contact_import_rows (by import)', 'contact_import_rejections (by import)', 'flow_versions (by flow)', 'outbox_events (by payload)'];
  expect(everyTable.filter((table) => !before[table])).toEqual([]);
  const otherBefore = await shopRowCounts(t.env.db, other.shop.id, other.ids);

  await requestErasure(shop);
  const result = await eraseShop(t.deps, shop.id, { chunkRows: 3, sliceMs: 600_000 });

  expect(result.outcome).toBe('erased');
  expect(result.rows).toMatchObject({ contacts: 12, campaign_recipients: 24, link_clicks: before.link_clicks, shops: 1 });
  // No chunk deletes more than 3 rows: 24 recipients alone take 8 chunks.
  const rowsDeleted = Object.values(result.rows).reduce((a, b) => a + b, 0);
  expect(result.chunks).toBeGreaterThanOrEqual(Math.ceil((rowsDeleted - 1) / 3) + 1);
  expect(await shopRowCounts(t.env.db, shop.id, ids)).toEqual({});
  expect(await rowsMentioning(t.env.db, [shop.id, shop.domain])).toEqual([]);
  expect(await shopRowCounts(t.env.db, other.shop.id, other.ids)).toEqual(otherBefore);
  const [kept] = await t.env.db.$queryRaw<{ status: string; erasure_requested_at: Date | null }[]>`SELECT status, erasure_requested_at FROM shops WHERE id = ${other.shop.id}::uuid`;
  expect(kept).toEqual({ status: 'active', erasure_requested_at: null });
});

it('touches no shop whose erasure was not requested, whatever id the job names', async () => {
  const { shop, ids } = await seededShop();
  const before = await shopRowCounts(t.env.db, shop.id, ids);
  expect(await eraseShopChunk(t.env.db, shop.id, { chunkRows: 3 })).toEqual({ kind: 'not_requested' });
  expect((await eraseShop(t.deps, shop.id)).outcome).toBe('not_requested');
  expect(await shopRowCounts(t.env.db, shop.id, ids)).toEqual(before);
});

it('marks the shop redacted once, pauses its live flows: a repeated request keeps the first time and queues the same job', async () => {
  const shop = await createShop(t.env.db);
  const [flow] = await t.env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO flows (shop_id, name, trigger_type) VALUES (${shop.id}::uuid, 'Welcome', 'contact_subscribed') RETURNING id`;
  await t.env.db.$executeRaw`
    WITH v AS (INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${flow!.id}::uuid, ${shop.id}::uuid, 1, '[]'::jsonb) RETURNING id)
    UPDATE flows SET status = 'live', current_version_id = (SELECT id FROM v) WHERE id = ${flow!.id}::uuid`;
  // One stored event keyed by the shop, one naming only its domain (stored before the shop was known).
  await t.env.db.$executeRaw`
    INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload) VALUES
      ('shopify', ${`keyed-${shop.id}`}, 'orders/create', ${shop.id}::uuid, '{"id": 1}'::jsonb),
      ('shopify', ${`domain-${shop.id}`}, 'customers/update', NULL, ${JSON.stringify({ id: 2, shop_domain: shop.domain })}::jsonb)`;
  const first = await t.env.db.$transaction((tx) => requestShopErasure(tx, { shopDomain: shop.domain }));
  // The webhook's transaction stays bounded: what the shop's id keys is the job's (chunked), only the unkeyed one goes now.
  const stored = await t.env.db.$queryRaw<{ event_id: string }[]>`SELECT event_id FROM webhook_events WHERE event_id LIKE ${`%-${shop.id}`}`;
  expect(stored.map((e) => e.event_id)).toEqual([`keyed-${shop.id}`]);
  expect(first.eventsDeleted).toBe(1);
  await new Promise((r) => setTimeout(r, 20));
  const again = await t.env.db.$transaction((tx) => requestShopErasure(tx, { shopDomain: shop.domain }));
  expect(again.requestedAt).toEqual(first.requestedAt);
  expect(again.outbox).toMatchObject({ event_type: 'privacy.shop-erase.v1', aggregate_id: shop.id, payload: { shopId: shop.id } });
  const [row] = await t.env.db.$queryRaw<{ status: string; flow: string }[]>`
    SELECT s.status, f.status AS flow FROM shops s JOIN flows f ON f.shop_id = s.id WHERE s.id = ${shop.id}::uuid`;
  expect(row).toEqual({ status: 'redacted', flow: 'paused' });
  // Each request writes its event (the first one's job may be lost); both name the one job id, so one erasure runs.
  const events = await t.env.db.$queryRaw<{ id: bigint }[]>`SELECT id FROM outbox_events WHERE aggregate_id = ${shop.id} ORDER BY id`;
  expect(events.map((e) => e.id)).toEqual([first.outbox!.id, again.outbox!.id]);
});

it('an erasure killed after some chunks completes when its job runs again', async () => {
  const { shop, ids } = await seededShop();
  await requestErasure(shop);
  // What a worker killed mid-run leaves: a few committed chunks of the first tables.
  let from = 0;
  for (let i = 0; i < 8; i++) {
    const r = await eraseShopChunk(t.env.db, shop.id, { chunkRows: 3, from });
    if (r.kind !== 'rows') throw new Error(`expected a chunk of rows, got ${r.kind}`);
    from = r.step;
  }
  const partial = await shopRowCounts(t.env.db, shop.id, ids);
  expect(partial.order_attributions).toBeUndefined();
  expect(partial.contacts).toBe(12);
  expect(partial.shops).toBe(1);

  const { deps } = await t.env.worker({ queues: ['maintenance'] });
  await deps.producer.add('privacy.shop-erase.v1', { traceId: 'retry', shopId: shop.id }, { jobId: jobIds.shopErase(shop.id) });
  await waitFor('the job finished the erasure', async () => Object.keys(await shopRowCounts(t.env.db, shop.id, ids)).length === 0);
  expect(await rowsMentioning(t.env.db, [shop.id, shop.domain])).toEqual([]);
});

it('a run whose slice runs out yields after one chunk at least, and the next runs go on until the shop is gone', async () => {
  const { shop, ids } = await seededShop();
  await requestErasure(shop);
  const outcomes: string[] = [];
  for (let run = 0; run < 1_000; run++) {
    const r = await eraseShop(t.deps, shop.id, { chunkRows: 50, sliceMs: 0 });
    expect(r.chunks).toBe(1);
    outcomes.push(r.outcome);
    if (r.outcome !== 'yielded') break;
  }
  expect(outcomes.at(-1)).toBe('erased');
  expect(outcomes.length).toBeGreaterThan(ERASURE_STEPS.length / 2);
  expect(await shopRowCounts(t.env.db, shop.id, ids)).toEqual({});
});

it('a shop/redact repeated, and a webhook stored, after their steps of a running erasure leave nothing behind', async () => {
  const { shop, ids } = await seededShop();
  await requestErasure(shop);
  const pastOutbox = ERASURE_STEPS.findIndex((s) => s.table === 'outbox_events') + 1;
  let r = await eraseShopChunk(t.env.db, shop.id, { chunkRows: 1_000 });
  while (r.kind === 'rows' && r.step < pastOutbox) r = await eraseShopChunk(t.env.db, shop.id, { chunkRows: 1_000, from: r.step + 1 });
  expect(r).toMatchObject({ kind: 'rows', table: 'campaigns' });

  // Shopify repeats the webhook (a new id), and stores another, once the run is past those steps: its last chunk, the shop row, comes next.
  await requestErasure(shop);
  await t.env.db.$executeRaw`
    INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload) VALUES ('shopify', 'late-1', 'customers/update', ${shop.id}::uuid, '{"id": 2}'::jsonb)`;
  r = await eraseShopChunk(t.env.db, shop.id, { chunkRows: 1_000, from: ERASURE_STEPS.length });
  expect(r.kind).toBe('shop');
  expect(await shopRowCounts(t.env.db, shop.id, ids)).toEqual({});
  expect(await rowsMentioning(t.env.db, [shop.id, shop.domain])).toEqual([]);
});
