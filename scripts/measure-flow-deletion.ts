// What deleting a flow with a long history costs (docs/flows.md, "Deleting a flow").
// Against a scratch database named by DATABASE_URL (created and migrated here):
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch_flow_deletion npx tsx scripts/measure-flow-deletion.ts [runs] [--one-statement]
// Seeds one shop of 20 000 contacts with a paused flow of `runs` finished
// runs (default 300 000), a delivered message each, a click on one message
// in 10 and an attributed order on one in 20, two versions
// (test/flow-history.ts), next to a smaller flow of the same shop; then
// deletes it as DELETE /api/flows/:id does (the request's transaction, then
// the job's chunks) and prints the chunk count, the longest chunk
// transaction and the time per table. --one-statement deletes the flow row
// in one transaction instead, as the request did before.
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createDb } from '../lib/db';
import { createMetrics } from '../lib/metrics';
import { ensureDatabase, migrate } from '../lib/migrator';
import type { Producer } from '../queue/producer';
import { deleteFlow } from '../domain/flows/delete-flow';
import { eraseDeletedFlow } from '../domain/flows/erase-deleted-flow';
import { UNGUARDED } from '../domain/idempotency/guard';
import { createContactsBulk } from '../test/factories';
import { flowRowCounts, seedFlowHistory } from '../test/flow-history';

const RUNS = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 300_000);
const ONE_STATEMENT = process.argv.includes('--one-statement');
const CONTACTS = 20_000;

// No Redis here: the job is run in this process, so its queued copy is not needed.
const noQueue: Producer = { add: async () => undefined, addBulk: async () => undefined };

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL ?? '';
  if (!/scratch|measure|throwaway/.test(url)) throw new Error('DATABASE_URL must name a scratch database (its name containing scratch, measure or throwaway)');
  await ensureDatabase(url);
  await migrate(url);
  const db = createDb({ DATABASE_URL: url, DATABASE_POOL_SIZE: 4, DATABASE_STATEMENT_TIMEOUT_MS: 3_600_000 });
  const [shop] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO shops (domain, sender_id) VALUES (${`flows-${Date.now()}.myshopify.com`}, 'Measure') RETURNING id`;
  const shopId = shop!.id;
  await db.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${shopId}::uuid)`;

  let t0 = performance.now();
  await createContactsBulk(db, shopId, CONTACTS);
  const { flowId } = await seedFlowHistory(db, shopId, { runs: RUNS, clickEvery: 10, attributionEvery: 20 });
  const { flowId: keptId } = await seedFlowHistory(db, shopId, { runs: 10_000, clickEvery: 10, attributionEvery: 20 });
  await db.$executeRawUnsafe('ANALYZE');
  console.log(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s:`, await flowRowCounts(db, flowId));

  if (ONE_STATEMENT) {
    t0 = performance.now();
    await db.$transaction((tx) => tx.$executeRaw`DELETE FROM flows WHERE id = ${flowId}::uuid`, { timeout: 3_600_000 });
    console.log(`one statement: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    await db.$disconnect();
    return;
  }

  t0 = performance.now();
  await deleteFlow(db, noQueue, { shopId, flowId, guard: UNGUARDED, traceId: 'measure' });
  console.log(`DELETE /api/flows/:id's work (lock, active-run count, mark, outbox event; then marking it published): ${(performance.now() - t0).toFixed(1)} ms`);

  const metrics = createMetrics();
  const result = await eraseDeletedFlow({ db, metrics, logger: pino({ level: 'warn' }) }, flowId, { sliceMs: Number.POSITIVE_INFINITY });
  console.log(`job: ${result.outcome} in ${(result.durationMs / 1000).toFixed(1)} s, ${result.chunks} chunks, longest chunk ${result.longestChunkMs} ms`);
  const byTable = new Map<string, { sum: number; count: number }>();
  for (const v of (await metrics.flowDeletionChunkDuration.get()).values) {
    const table = String(v.labels.table);
    const cur = byTable.get(table) ?? { sum: 0, count: 0 };
    if (v.metricName?.endsWith('_sum')) cur.sum = v.value;
    else if (v.metricName?.endsWith('_count')) cur.count = v.value;
    byTable.set(table, cur);
  }
  for (const [table, { sum, count }] of [...byTable].sort((a, b) => b[1].sum - a[1].sum)) {
    console.log(`  ${table.padEnd(20)} ${String(result.rows[table] ?? 0).padStart(8)} rows  ${String(count).padStart(4)} chunks  ${sum.toFixed(2).padStart(7)} s  ${((sum * 1000) / count).toFixed(1).padStart(7)} ms/chunk`);
  }
  const left = await flowRowCounts(db, flowId);
  const kept = await flowRowCounts(db, keptId);
  console.log('left of the deleted flow:', left, '| the other flow:', kept);
  await db.$disconnect();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
