import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { HOLD_SCAN, holdStoppedRuns } from '../../domain/flows/hold-stopped-runs';
import { Sql, sql, type Db } from '../../lib/db';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';

// The attack: one merchant (or one big shop uninstalling, which pauses its
// flows) holds a huge number of due runs in a paused flow. Those runs stay
// `active` with due times in the past, so they used to sit at the head of the
// due index, and every claim of the scheduler, for every shop, stepped over
// each of them and read its flow: 200 000 held runs cost ~1 s a claim (the
// scheduler ticks every 250 ms), a few million would reach the statement
// timeout and stop every shop's flows. The scheduler now holds such runs out
// of the due index (once each, in bounded chunks), so another shop's claim
// examines its own run and not the held ones.

const HELD = 20_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows of flow_runs the plan's scans read (returned or filtered out), over every loop. */
function flowRunsRowsExamined(node: PlanNode): number {
  const own = node['Relation Name'] === 'flow_runs' && node['Node Type'].endsWith('Scan')
    ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * (node['Actual Loops'] ?? 1)
    : 0;
  return own + (node.Plans ?? []).reduce((n, p) => n + flowRunsRowsExamined(p), 0);
}

describe("another shop's paused flow and the due-run claim", () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  async function liveFlow(shop: ShopFixture): Promise<{ id: string; versionId: string }> {
    const created = await post(shop, '/api/flows', { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id };
  }

  /** EXPLAIN ANALYZE of the statement claimDueRuns sends, rolled back (it claims nothing). */
  async function claimPlan(now: Date): Promise<PlanNode> {
    let statement: Sql | undefined;
    const capture = {
      ...env.db,
      $queryRaw: async (q: TemplateStringsArray | Sql, ...values: unknown[]) => {
        statement = q instanceof Sql ? q : sql(q, ...values);
        return [];
      },
    } as unknown as Db;
    await claimDueRuns(capture, { now, limit: 1000, leaseMs: 60_000 });
    let plan: PlanNode | undefined;
    await env.db.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(sql`EXPLAIN (ANALYZE, FORMAT JSON) ${statement!}`);
      plan = row!['QUERY PLAN'][0].Plan;
      throw new Error('rollback');
    }).catch((err: unknown) => {
      if ((err as Error).message !== 'rollback') throw err;
    });
    return plan!;
  }

  it("a claim of shop B's one due run examines none of shop A's held runs", async () => {
    const a = await createShop(env.db);
    const fa = await liveFlow(a);
    const ca = await createContact(env.db, a.id);
    const weekAgo = new Date(Date.now() - 7 * 86_400_000);
    await env.db.$executeRaw`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at)
      SELECT ${fa.id}::uuid, ${fa.versionId}::uuid, ${a.id}::uuid, ${ca.id}::uuid, 'order_created', 'o-' || g, ${weekAgo}::timestamptz, 0,
             ${weekAgo}::timestamptz + g * interval '1 ms'
        FROM generate_series(1, ${HELD}::int) g`;
    expect((await post(a, `/api/flows/${fa.id}/pause`)).status).toBe(200);

    const b = await createShop(env.db);
    const fb = await liveFlow(b);
    const cb = await createContact(env.db, b.id);
    const [run] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at)
      VALUES (${fb.id}::uuid, ${fb.versionId}::uuid, ${b.id}::uuid, ${cb.id}::uuid, 'order_created', 'o-b', now(), 0, now())
      RETURNING id::text`;
    const now = new Date(Date.now() + 1_000);

    // The scheduler's ticks hold A's runs, a bounded chunk each.
    let ticks = 0;
    for (let pass = await holdStoppedRuns(env.db, { now }); pass.next; pass = await holdStoppedRuns(env.db, { now, after: pass.next })) ticks++;
    expect(ticks).toBe(Math.ceil(HELD / HOLD_SCAN));
    await env.db.$executeRawUnsafe('ANALYZE flow_runs');

    const examined = flowRunsRowsExamined(await claimPlan(now));
    const t = performance.now();
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    const ms = performance.now() - t;
    // eslint-disable-next-line no-console
    console.log(`claim of 1 live run beside ${HELD} held runs of another shop: ${examined} flow_runs rows examined, ${ms.toFixed(1)} ms`);
    expect(claim.runIds).toEqual([run!.id]);
    // B's run, read by the due scan and again by the UPDATE: nothing of A's.
    expect(examined).toBeLessThanOrEqual(2);
    // A's runs kept their place: active, due, unclaimed, ready to go on when A activates the flow.
    const [held] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM flow_runs WHERE flow_id = ${fa.id}::uuid AND status = 'active' AND held AND claim_token IS NULL AND next_due_at < ${now}`;
    expect(held!.n).toBe(HELD);
  }, 120_000);
});
