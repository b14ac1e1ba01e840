import type { Db } from '../lib/db';

// A flow with a finished history, written set-based so the same code seeds a
// test's handful and a measurement's hundreds of thousands of runs
// (scripts/measure-flow-deletion.ts): two versions, finished runs spread over
// the shop's contacts (one order each, so one contact may have many runs),
// a delivered message per run, a click on some and an attributed order on
// others. The shop's contacts must exist already.

export interface FlowHistorySize {
  runs: number;
  /** One message in this many has a click. */
  clickEvery?: number;
  /** One message in this many has an attributed order. */
  attributionEvery?: number;
  /** The flow's status: paused (deletable) unless given. */
  status?: 'paused' | 'live';
}

export async function seedFlowHistory(db: Db, shopId: string, size: FlowHistorySize): Promise<{ flowId: string }> {
  const long = { timeout: 600_000 };
  const run = (q: TemplateStringsArray, ...v: unknown[]) => db.$executeRaw(q, ...v);
  const [flow] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO flows (shop_id, name, trigger_type) VALUES (${shopId}::uuid, 'Post-purchase', 'order_created') RETURNING id`;
  const flowId = flow!.id;
  const versions = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_versions (flow_id, shop_id, version, steps)
    SELECT ${flowId}::uuid, ${shopId}::uuid, g, '[{"type": "send", "body": "Thanks!"}]'::jsonb FROM generate_series(1, 2) g
    RETURNING id`;
  const current = versions[1]!.id;
  await run`UPDATE flows SET current_version_id = ${current}::uuid, status = ${size.status ?? 'paused'} WHERE id = ${flowId}::uuid`;
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, ended_at)
      SELECT ${flowId}::uuid, ${current}::uuid, ${shopId}::uuid, c.id, 'order_created', 'fo-' || g, now(), 'completed', now()
        FROM generate_series(0, ${size.runs - 1}::int) g
        JOIN (SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS k, count(*) OVER ()::int AS n FROM contacts WHERE shop_id = ${shopId}::uuid) c
          ON c.k = g % c.n`;
    await tx.$executeRaw`
      INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, segments, encoding, credits, provider_message_id, sent_at, delivered_at, final_at)
      SELECT id, 0, shop_id, flow_id, version_id, contact_id, 'delivered', 1, 'GSM-7', 1, 'fm-' || id, now(), now(), now()
        FROM flow_runs WHERE flow_id = ${flowId}::uuid`;
  }, long);
  await run`
    INSERT INTO link_clicks (id, shop_id, flow_id, flow_message_id, step, contact_id, link_index, clicked_at, ua_class, bot, first)
    SELECT gen_random_uuid(), shop_id, flow_id, id, 0, contact_id, 0, now(), 'android', false, true
      FROM flow_messages WHERE flow_id = ${flowId}::uuid AND id % ${size.clickEvery ?? 3}::int = 0`;
  await run`
    INSERT INTO order_attributions (shop_id, order_id, flow_id, flow_message_id, contact_id, kind, total_minor, currency, ordered_at)
    SELECT shop_id, 'fo-' || ${flowId}::text || '-' || id, flow_id, id, contact_id, 'view', 2500, 'USD', now()
      FROM flow_messages WHERE flow_id = ${flowId}::uuid AND id % ${size.attributionEvery ?? 4}::int = 0`;
  return { flowId };
}

/** How many rows of the flow each table holds, leaving out the tables with none. */
export async function flowRowCounts(db: Db, flowId: string): Promise<Record<string, number>> {
  const [r] = await db.$queryRaw<Record<string, bigint>[]>`
    SELECT (SELECT count(*) FROM flows WHERE id = ${flowId}::uuid) AS flows,
           (SELECT count(*) FROM flow_versions WHERE flow_id = ${flowId}::uuid) AS flow_versions,
           (SELECT count(*) FROM flow_runs WHERE flow_id = ${flowId}::uuid) AS flow_runs,
           (SELECT count(*) FROM flow_messages WHERE flow_id = ${flowId}::uuid) AS flow_messages,
           (SELECT count(*) FROM link_clicks WHERE flow_id = ${flowId}::uuid) AS link_clicks,
           (SELECT count(*) FROM order_attributions WHERE flow_id = ${flowId}::uuid) AS order_attributions`;
  return Object.fromEntries(Object.entries(r!).filter(([, n]) => Number(n) > 0).map(([t, n]) => [t, Number(n)]));
}
