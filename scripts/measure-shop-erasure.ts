// What erasing a large shop costs (docs/architecture.md, "Deleting a shop").
// Against a scratch database named by DATABASE_URL (created and migrated here):
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch_erasure npx tsx scripts/measure-shop-erasure.ts [contacts] [--one-statement] [--index-builds]
// Seeds one shop with `contacts` contacts (default 200 000), one campaign to
// all of them, two clicks each, flow runs for a quarter, an order, checkout,
// consent record, send slot and write-back each (test/shop-data.ts), next to
// a smaller shop; then erases it as shop/redact does (the webhook's part,
// then the job's chunks) and prints the chunk count, the longest chunk
// transaction and the time per table. --one-statement deletes the shop row
// in one transaction instead, as shop/redact did before. --index-builds first
// times building the foreign-key indexes of migration 20261216100000 on the
// seeded tables (writes to a table wait while its index builds).
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createDb } from '../lib/db';
import { createMetrics } from '../lib/metrics';
import { ensureDatabase, migrate } from '../lib/migrator';
import { allowConsentErasure } from '../domain/consent/consent-source';
import { eraseShop } from '../domain/privacy/erase-shop';
import { requestShopErasure } from '../domain/privacy/request-shop-erasure';
import { seedShopData } from '../test/shop-data';

const CONTACTS = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 200_000);
const ONE_STATEMENT = process.argv.includes('--one-statement');
const INDEX_BUILDS = process.argv.includes('--index-builds');

// The migration's foreign-key indexes, as it creates them.
const FK_INDEXES: [string, string][] = [
  ['link_clicks_contact_id_idx', 'link_clicks ("contact_id") WHERE "contact_id" IS NOT NULL'],
  ['link_clicks_shop_id_idx', 'link_clicks ("shop_id")'],
  ['order_attributions_contact_id_idx', 'order_attributions ("contact_id") WHERE "contact_id" IS NOT NULL'],
  ['order_attributions_flow_message_id_idx', 'order_attributions ("flow_message_id") WHERE "flow_message_id" IS NOT NULL'],
  ['inbound_messages_shop_id_idx', 'inbound_messages ("shop_id")'],
  ['flow_runs_contact_id_idx', 'flow_runs ("contact_id")'],
  ['credit_reservations_campaign_id_idx', 'credit_reservations ("campaign_id")'],
];

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL ?? '';
  if (!/scratch|measure|throwaway/.test(url)) throw new Error('DATABASE_URL must name a scratch database (its name containing scratch, measure or throwaway)');
  await ensureDatabase(url);
  await migrate(url);
  const db = createDb({ DATABASE_URL: url, DATABASE_POOL_SIZE: 4, DATABASE_STATEMENT_TIMEOUT_MS: 3_600_000 });
  const shop = async (label: string) =>
    (await db.$queryRaw<{ id: string; domain: string }[]>`
      INSERT INTO shops (domain, sender_id) VALUES (${`${label}-${Date.now()}.myshopify.com`}, 'Measure') RETURNING id, domain`)[0]!;
  const big = await shop('erased');
  const other = await shop('kept');
  for (const s of [big, other]) await db.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${s.id}::uuid)`;

  let t0 = performance.now();
  await seedShopData(db, other.id, { contacts: Math.round(CONTACTS / 4) });
  await seedShopData(db, big.id, { contacts: CONTACTS, campaigns: 1, clicksPerContact: 2, flowEvery: 4 });
  const [sizes] = await db.$queryRaw<Record<string, bigint>[]>`
    SELECT (SELECT count(*) FROM contacts WHERE shop_id = ${big.id}::uuid) AS contacts,
           (SELECT count(*) FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id WHERE c.shop_id = ${big.id}::uuid) AS recipients,
           (SELECT count(*) FROM link_clicks WHERE shop_id = ${big.id}::uuid) AS link_clicks,
           (SELECT count(*) FROM flow_runs WHERE shop_id = ${big.id}::uuid) AS flow_runs,
           (SELECT count(*) FROM contact_consent_records WHERE shop_id = ${big.id}::uuid) AS consent_records,
           (SELECT count(*) FROM outbox_events WHERE payload->>'shopId' = ${big.id}::text) AS outbox_rows`;
  console.log(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s:`, Object.fromEntries(Object.entries(sizes!).map(([k, v]) => [k, Number(v)])));

  if (INDEX_BUILDS) {
    for (const [name, on] of FK_INDEXES) {
      await db.$executeRawUnsafe(`DROP INDEX "${name}"`);
      const t = performance.now();
      await db.$executeRawUnsafe(`CREATE INDEX "${name}" ON ${on}`);
      console.log(`index ${name}: built in ${(performance.now() - t).toFixed(0)} ms`);
    }
  }

  if (ONE_STATEMENT) {
    t0 = performance.now();
    await db.$transaction(async (tx) => {
      await allowConsentErasure(tx);
      await tx.$executeRaw`DELETE FROM shops WHERE id = ${big.id}::uuid`;
    }, { timeout: 3_600_000 });
    console.log(`one statement: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    await db.$disconnect();
    return;
  }

  t0 = performance.now();
  await db.$transaction((tx) => requestShopErasure(tx, { shopDomain: big.domain, traceId: 'measure' }));
  console.log(`shop/redact's transaction (mark, pause, the unkeyed stored events, the job's outbox event): ${(performance.now() - t0).toFixed(1)} ms`);

  const metrics = createMetrics();
  const result = await eraseShop({ db, metrics, logger: pino({ level: 'warn' }) }, big.id, { sliceMs: Number.POSITIVE_INFINITY });
  console.log(`erasure: ${result.outcome} in ${(result.durationMs / 1000).toFixed(1)} s, ${result.chunks} chunks, longest chunk ${result.longestChunkMs} ms`);
  const perTable = (await metrics.shopErasureChunkDuration.get()).values.filter((v) => v.metricName?.endsWith('_sum') || v.metricName?.endsWith('_count'));
  const byTable = new Map<string, { sum: number; count: number }>();
  for (const v of perTable) {
    const table = String(v.labels.table);
    const cur = byTable.get(table) ?? { sum: 0, count: 0 };
    if (v.metricName!.endsWith('_sum')) cur.sum = v.value;
    else cur.count = v.value;
    byTable.set(table, cur);
  }
  for (const [table, { sum, count }] of [...byTable].sort((a, b) => b[1].sum - a[1].sum)) {
    console.log(`  ${table.padEnd(28)} ${String(result.rows[table] ?? 0).padStart(8)} rows  ${String(count).padStart(4)} chunks  ${sum.toFixed(2).padStart(7)} s  ${((sum * 1000) / count).toFixed(1).padStart(7)} ms/chunk`);
  }
  await db.$disconnect();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
