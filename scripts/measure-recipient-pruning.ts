// What pruning a large finished campaign's recipients costs (docs/architecture.md,
// "Recipient tables at 100 M rows"). Against a scratch database named by
// DATABASE_URL (created and migrated here):
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch_pruning npx tsx scripts/measure-recipient-pruning.ts [recipients]
// Seeds one shop with `recipients` contacts (default 1 000 000) and one
// campaign to all of them (batches of 1 000, every final status, sent over
// ~3 hours, finished 200 days ago), next to a recent campaign of the same
// contacts that must keep its rows; then runs the campaigns.prune-recipients.v1
// job's work and prints the two freeze statements, the chunk count, the
// longest chunk and the total.
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createDb } from '../lib/db';
import { createMetrics } from '../lib/metrics';
import { ensureDatabase, migrate } from '../lib/migrator';
import { pruneCampaignRecipients, PRUNE_CHUNK_ROWS } from '../domain/campaigns/prune-campaign-recipients';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const DAY = 86_400_000;

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL ?? '';
  if (!/scratch|measure|throwaway/.test(url)) throw new Error('DATABASE_URL must name a scratch database (its name containing scratch, measure or throwaway)');
  await ensureDatabase(url);
  await migrate(url);
  const db = createDb({ DATABASE_URL: url, DATABASE_POOL_SIZE: 4, DATABASE_STATEMENT_TIMEOUT_MS: 3_600_000 });
  const long = { timeout: 3_600_000 };
  const now = new Date();
  const [shop] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO shops (domain, sender_id) VALUES (${`pruned-${Date.now()}.myshopify.com`}, 'Measure') RETURNING id`;
  const shopId = shop!.id;

  let t0 = performance.now();
  await db.$executeRaw`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent)
    SELECT ${shopId}::uuid, p, encode(sha256(p::bytea), 'hex'), 'Friend' || g, 'Seed', 'subscribed'
      FROM generate_series(1, ${N}::int) g, LATERAL (SELECT '+1' || (2012000000 + g)::text AS p) x`;
  const campaign = async (startedAt: Date): Promise<string> => {
    const [c] = await db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status, segments_per_message, total_recipients, started_at, completed_at, last_activity_at)
      VALUES (${shopId}::uuid, 'Measured', 'Hi', 'completed', 1, ${N}::int, ${startedAt}, ${new Date(startedAt.getTime() + 3 * 3600_000)}, ${new Date(startedAt.getTime() + 3 * 3600_000)})
      RETURNING id`;
    const id = c!.id;
    await db.$transaction(async (tx) => {
      await tx.$executeRaw`
        INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at, error_code)
        SELECT ${id}::uuid, c.id, ((c.rn - 1) / 1000)::int, st.s,
               CASE WHEN st.s IN ('sent', 'delivered', 'failed') THEN 'pm-' || c.rn END,
               CASE WHEN st.s IN ('sent', 'delivered', 'failed') THEN 1 END,
               CASE WHEN st.s IN ('sent', 'delivered', 'failed') THEN ${startedAt}::timestamptz + c.rn * (interval '3 hours' / ${N}::int) END,
               CASE WHEN st.s IN ('delivered', 'failed', 'skipped') THEN ${startedAt}::timestamptz + c.rn * (interval '3 hours' / ${N}::int) + interval '20 seconds' END,
               CASE st.s WHEN 'failed' THEN 'carrier' WHEN 'skipped' THEN 'frequency_cap' END
          FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM contacts WHERE shop_id = ${shopId}::uuid) c,
               LATERAL (SELECT (ARRAY['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'failed', 'skipped', 'sent', 'unknown'])[1 + (c.rn % 10)::int] AS s) st`;
      await tx.$executeRaw`
        INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status, sent)
        SELECT campaign_id, batch_no, count(*)::int, 'done', count(*) FILTER (WHERE sent_at IS NOT NULL)::int
          FROM campaign_recipients WHERE campaign_id = ${id}::uuid GROUP BY campaign_id, batch_no`;
    }, long);
    return id;
  };
  const old = await campaign(new Date(now.getTime() - 200 * DAY));
  const recent = await campaign(new Date(now.getTime() - 2 * DAY));
  // As autovacuum would have left a table written months ago: visibility map set, statistics current.
  await db.$executeRawUnsafe('VACUUM ANALYZE campaign_recipients');
  await db.$executeRawUnsafe('VACUUM ANALYZE campaign_batches');
  await db.$executeRawUnsafe('VACUUM ANALYZE campaigns');
  console.log(`seeded 2 × ${N} recipients in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  t0 = performance.now();
  const logger = pino({ level: 'silent' });
  const r = await pruneCampaignRecipients({ db, logger, metrics: createMetrics() }, old, { now, retentionDays: 180, sliceMs: 3_600_000 });
  const total = performance.now() - t0;
  const [left] = await db.$queryRaw<{ old: bigint; recent: bigint }[]>`
    SELECT (SELECT count(*) FROM campaign_recipients WHERE campaign_id = ${old}::uuid) AS old,
           (SELECT count(*) FROM campaign_recipients WHERE campaign_id = ${recent}::uuid) AS recent`;
  console.log(JSON.stringify({
    recipients: N,
    chunkRows: PRUNE_CHUNK_ROWS,
    outcome: r.outcome,
    freezeTotalsMs: r.freeze.totalsMs,
    freezeTimeseriesMs: r.freeze.timeseriesMs,
    freezeReads: r.freeze.reads,
    freezeLongestReadMs: r.freeze.longestReadMs,
    deleted: r.deleted,
    chunks: r.chunks,
    longestChunkMs: r.longestChunkMs,
    meanChunkMs: Math.round((r.durationMs - r.freeze.totalsMs - r.freeze.timeseriesMs) / Math.max(1, r.chunks)),
    totalS: Number((total / 1000).toFixed(1)),
    rowsLeft: { pruned: Number(left!.old), recent: Number(left!.recent) },
  }, null, 2));
  await db.$disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
