// What the flow stats and the flow lag gauge cost for a big flow (docs/flows.md,
// "Stats"). Against a scratch database named by DATABASE_URL, migrated:
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch npx tsx scripts/measure-flow-stats.ts [runs]
// Writes one flow with `runs` runs (default 1 000 000) spread over its steps
// and statuses, one message per run that passed a send step and clicks on a
// fifth of the delivered messages, vacuums, then
// prints the median of 5 timings of GET /api/flows/:id/stats' queries, the
// gauges' read and flow:backlog for that flow.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createDb } from '../lib/db';
import { getFlowStats } from '../domain/flows/flow-stats';
import { readDbGauges } from '../domain/ops/db-gauges';
import { flowBacklog } from '../domain/ops/inspect-flow-runs';

const RUNS = Number(process.argv[2] ?? 1_000_000);

async function main(): Promise<void> {
  const db = createDb({ DATABASE_URL: process.env.DATABASE_URL ?? '', DATABASE_POOL_SIZE: 4, DATABASE_STATEMENT_TIMEOUT_MS: 1_800_000 });
  const [shop] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO shops (domain, sender_id) VALUES (${`measure-${randomUUID()}.myshopify.com`}, 'Measure') RETURNING id`;
  const shopId = shop!.id;
  const [contact] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent) VALUES (${shopId}::uuid, '+12015550100', md5('x'), 'subscribed') RETURNING id`;
  const steps = [{ type: 'send', body: 'Welcome' }, { type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Day two' }];
  const [flow] = await db.$queryRaw<{ id: string }[]>`INSERT INTO flows (shop_id, name, trigger_type) VALUES (${shopId}::uuid, 'Big', 'contact_subscribed') RETURNING id`;
  const [version] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${flow!.id}::uuid, ${shopId}::uuid, 1, ${JSON.stringify(steps)}::jsonb) RETURNING id`;
  await db.$executeRaw`UPDATE flows SET current_version_id = ${version!.id}::uuid, status = 'live' WHERE id = ${flow!.id}::uuid`;
  const now = new Date();
  const t0 = performance.now();
  // g % 10: 0-1 active at step 0 (due), 2 active at step 2 (waiting), 3-6 completed, 7-8 exited order_placed at 1, 9 exited opted_out at 2.
  await db.$executeRaw`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, exit_reason, current_step, next_due_at, ended_at)
    SELECT ${flow!.id}::uuid, ${version!.id}::uuid, ${shopId}::uuid, ${contact!.id}::uuid, 'manual', 'm' || g, ${now},
           CASE WHEN g % 10 < 3 THEN 'active' WHEN g % 10 < 7 THEN 'completed' ELSE 'exited' END,
           CASE WHEN g % 10 IN (7, 8) THEN 'order_placed' WHEN g % 10 = 9 THEN 'opted_out' END,
           CASE WHEN g % 10 < 2 THEN 0 WHEN g % 10 = 2 THEN 2 WHEN g % 10 < 7 THEN 3 WHEN g % 10 < 9 THEN 1 ELSE 2 END,
           CASE WHEN g % 10 < 2 THEN ${now}::timestamptz - make_interval(secs => g % 600) WHEN g % 10 = 2 THEN ${now}::timestamptz + interval '1 day' END,
           CASE WHEN g % 10 >= 3 THEN ${now}::timestamptz END
      FROM generate_series(1, ${RUNS}::int) g`;
  await db.$executeRaw`
    INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, skip_reason, segments, credits, provider_message_id, sent_at, delivered_at, final_at)
    SELECT r.id, s.step, r.shop_id, r.flow_id, r.version_id, r.contact_id,
           CASE WHEN r.id % 20 = 0 THEN 'skipped' WHEN r.id % 7 = 0 THEN 'failed' ELSE 'delivered' END,
           CASE WHEN r.id % 20 = 0 THEN 'frequency_cap' END,
           CASE WHEN r.id % 20 <> 0 AND r.id % 7 <> 0 THEN 1 END, CASE WHEN r.id % 20 <> 0 AND r.id % 7 <> 0 THEN 1 ELSE 0 END,
           CASE WHEN r.id % 20 <> 0 AND r.id % 7 <> 0 THEN 'pm' || r.id END,
           CASE WHEN r.id % 20 <> 0 AND r.id % 7 <> 0 THEN ${now}::timestamptz END,
           CASE WHEN r.id % 20 <> 0 AND r.id % 7 <> 0 THEN ${now}::timestamptz END, ${now}::timestamptz
      FROM flow_runs r CROSS JOIN LATERAL (SELECT 0 AS step UNION ALL SELECT 2 WHERE r.current_step = 3) s
     WHERE r.flow_id = ${flow!.id}::uuid AND r.current_step > 0`;
  // Clicks on a fifth of the delivered messages: a first human click, a second one, or a link preview.
  await db.$executeRaw`
    INSERT INTO link_clicks (id, shop_id, flow_id, flow_message_id, step, contact_id, link_index, clicked_at, ua_class, bot, first)
    SELECT gen_random_uuid(), m.shop_id, m.flow_id, m.id, m.step, m.contact_id, 0, ${now}::timestamptz,
           CASE WHEN m.id % 3 = 0 THEN 'preview' ELSE 'ios' END, m.id % 3 = 0, m.id % 3 = 1
      FROM flow_messages m WHERE m.flow_id = ${flow!.id}::uuid AND m.status = 'delivered' AND m.id % 5 = 0`;
  console.log(`wrote ${RUNS} runs, their messages and clicks in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await db.$executeRawUnsafe('VACUUM ANALYZE flow_runs');
  await db.$executeRawUnsafe('VACUUM ANALYZE flow_messages');
  await db.$executeRawUnsafe('VACUUM ANALYZE link_clicks');
  const [sizes] = await db.$queryRaw<{ runs_idx: string; messages_idx: string; clicks_idx: string; messages: bigint; clicks: bigint }[]>`
    SELECT pg_size_pretty(pg_relation_size('flow_runs_flow_stats_idx')) AS runs_idx, pg_size_pretty(pg_relation_size('flow_messages_flow_stats_idx')) AS messages_idx,
           pg_size_pretty(pg_relation_size('link_clicks_flow_stats_idx')) AS clicks_idx,
           (SELECT count(*) FROM flow_messages WHERE flow_id = ${flow!.id}::uuid) AS messages,
           (SELECT count(*) FROM link_clicks WHERE flow_id = ${flow!.id}::uuid) AS clicks`;
  console.log(
    `messages ${sizes!.messages}, clicks ${sizes!.clicks}; index sizes: flow_runs_flow_stats_idx ${sizes!.runs_idx}, ` +
      `flow_messages_flow_stats_idx ${sizes!.messages_idx}, link_clicks_flow_stats_idx ${sizes!.clicks_idx}`,
  );

  async function time(label: string, f: () => Promise<unknown>): Promise<void> {
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await f();
      ms.push(performance.now() - s);
    }
    ms.sort((a, b) => a - b);
    console.log(`${label.padEnd(48)} median ${ms[2]!.toFixed(0).padStart(5)} ms  (min ${ms[0]!.toFixed(0)}, max ${ms[4]!.toFixed(0)})`);
  }
  await time('GET /api/flows/:id/stats (getFlowStats)', () => getFlowStats(db, shopId, flow!.id));
  await time('db gauges (incl. flow due runs, oldest due)', () => readDbGauges(db, now, now));
  await time('flow:backlog <flowId>', () => flowBacklog(db, { now, flowId: flow!.id }));
  const final = await getFlowStats(db, shopId, flow!.id);
  console.log(JSON.stringify({ runs: final.runs, clicks: final.clicks, uniqueClicks: final.uniqueClicks, botClicks: final.botClicks }));
  await db.$disconnect();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
