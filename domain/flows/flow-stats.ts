import { sql, type DbOrTx } from '../../lib/db';
import { minorToDecimal } from '../orders/money';
import { refundedSql } from '../orders/refunded-sql';
import type { FlowStep } from './flow-input';
import { getFlowRow } from './get-flow';

export interface RunCounts {
  active: number;
  exited: number;
  exitedByReason: Record<string, number>;
}

export interface MessageCounts {
  /** Went out: sent, delivered or undelivered. */
  sent: number;
  delivered: number;
  undelivered: number;
  /** Refused by the provider (never charged). */
  failed: number;
  /** May have gone out; never re-sent, not charged. */
  unknown: number;
  /** Being sent now (written before the provider call). */
  sending: number;
  skipped: number;
  skippedByReason: Record<string, number>;
  creditsSpent: number;
}

type RevenueLines = { currency: string; orders: number; amount: string }[];

/**
 * Clicks on the flow's short links and the orders attributed to its messages
 * (domain/orders/attribute-order.ts: clicked last within the click window,
 * else delivered last within the view window).
 */
export interface AttributedRevenue {
  /** Human clicks (not a bot, preview, prefetch or HEAD). */
  clicks: number;
  /** Messages clicked at least once (their first human click). */
  uniqueClicks: number;
  /** Redirects recognised as bots or previews: redirected, never counted. */
  botClicks: number;
  /** Every attributed order: by click and by view. */
  attributedOrders: number;
  /** Per currency, the orders' total net of their successful refunds (each order's at least 0), in major units (decimal text). */
  attributedRevenue: RevenueLines;
  /** Of those, the orders attributed by a click on one of the flow's links. */
  clickAttributedOrders: number;
  clickAttributedRevenue: RevenueLines;
}

/** The orders attributed to a step's messages: `attributedOrders`, `attributedRevenue`. */
export interface FlowStepStats extends AttributedRevenue {
  index: number;
  /** The step's type in the flow's current version (null past its last step: a step only an older version had). */
  type: FlowStep['type'] | null;
  /** Runs whose next step is this one (active), or that ended before it (exited). */
  runs: RunCounts;
  messages: MessageCounts;
}

/** GET /api/flows/:id/stats (api.md, "Flow stats"); its attributed orders are every one of the flow's (also those whose message row is gone, which no step shows). */
export interface FlowStats extends AttributedRevenue {
  flowId: string;
  runs: RunCounts & { started: number; completed: number };
  messages: MessageCounts;
  steps: FlowStepStats[];
}

const emptyAttribution = (): AttributedRevenue => ({
  clicks: 0,
  uniqueClicks: 0,
  botClicks: 0,
  attributedOrders: 0,
  attributedRevenue: [],
  clickAttributedOrders: 0,
  clickAttributedRevenue: [],
});
const emptyRuns = (): RunCounts => ({ active: 0, exited: 0, exitedByReason: {} });
const emptyMessages = (): MessageCounts => ({ sent: 0, delivered: 0, undelivered: 0, failed: 0, unknown: 0, sending: 0, skipped: 0, skippedByReason: {}, creditsSpent: 0 });

function addMessages(m: MessageCounts, status: string, skipReason: string | null, n: number, credits: number): void {
  m.creditsSpent += credits;
  if (status === 'sent' || status === 'delivered' || status === 'undelivered') m.sent += n;
  if (status === 'delivered') m.delivered += n;
  else if (status === 'undelivered') m.undelivered += n;
  else if (status === 'failed') m.failed += n;
  else if (status === 'unknown') m.unknown += n;
  else if (status === 'sending') m.sending += n;
  else if (status === 'skipped') {
    m.skipped += n;
    const reason = skipReason ?? 'unknown';
    m.skippedByReason[reason] = (m.skippedByReason[reason] ?? 0) + n;
  }
}

/**
 * A flow's figures, per flow and per step, in three aggregates that each read
 * one index range (flow_runs_flow_stats_idx and link_clicks_flow_stats_idx
 * alone; flow_messages_flow_stats_idx with its rows, since no index of the
 * messages may name the status a delivery report changes), and its
 * attributed orders (far fewer, on their flow index): cost grows with the flow's runs and messages (about
 * 0.3 s for a million runs, docs/flows.md "Stats") and is independent of
 * every other flow and shop. Steps are positions: a run of an
 * older version is counted at its own step index. Another shop's flow is
 * NOT_FOUND.
 */
export async function getFlowStats(db: DbOrTx, shopId: string, flowId: string): Promise<FlowStats> {
  const flow = await getFlowRow(db, shopId, flowId);
  const [version] = flow.current_version_id
    ? await db.$queryRaw<{ steps: FlowStep[] }[]>`SELECT steps FROM flow_versions WHERE id = ${flow.current_version_id}::uuid`
    : [];
  // Independent reads: on pool connections, side by side.
  const [runRows, messageRows, clickRows, orderRows] = await Promise.all([
    db.$queryRaw<{ status: string; exit_reason: string | null; step: number; n: bigint }[]>`
      SELECT status, exit_reason, current_step AS step, count(*) AS n
        FROM flow_runs WHERE flow_id = ${flowId}::uuid
       GROUP BY status, exit_reason, current_step`,
    db.$queryRaw<{ step: number; status: string; skip_reason: string | null; n: bigint; credits: bigint }[]>`
      SELECT step, status, skip_reason, count(*) AS n, COALESCE(sum(credits), 0)::bigint AS credits
        FROM flow_messages WHERE flow_id = ${flowId}::uuid
       GROUP BY step, status, skip_reason`,
    // The step is on the click row: no message row read.
    db.$queryRaw<{ step: number; human: bigint; uniq: bigint; bots: bigint }[]>`
      SELECT step, count(*) FILTER (WHERE NOT bot) AS human, count(*) FILTER (WHERE first) AS uniq, count(*) FILTER (WHERE bot) AS bots
        FROM link_clicks WHERE flow_id = ${flowId}::uuid
       GROUP BY step`,
    // Attributed orders are far fewer than runs: their own index, the message's step by primary key.
    db.$queryRaw<{ step: number | null; kind: string; currency: string; orders: bigint; total: bigint }[]>`
      SELECT m.step, a.kind, a.currency, count(*) AS orders, sum(a.total_minor - ${refundedSql(sql`a`)})::bigint AS total
        FROM order_attributions a LEFT JOIN flow_messages m ON m.id = a.flow_message_id
       WHERE a.flow_id = ${flowId}::uuid AND a.shop_id = ${shopId}::uuid
       GROUP BY m.step, a.kind, a.currency`,
  ]);

  const steps = version?.steps ?? [];
  const stepCount = Math.max(steps.length, ...runRows.filter((r) => r.status !== 'completed').map((r) => r.step + 1), ...messageRows.map((r) => r.step + 1));
  const perStep: FlowStepStats[] = Array.from({ length: stepCount }, (_, index) => ({ index, type: steps[index]?.type ?? null, runs: emptyRuns(), messages: emptyMessages(), ...emptyAttribution() }));
  const total: FlowStats = { flowId, runs: { started: 0, completed: 0, ...emptyRuns() }, messages: emptyMessages(), ...emptyAttribution(), steps: perStep };

  for (const r of runRows) {
    const n = Number(r.n);
    total.runs.started += n;
    if (r.status === 'completed') {
      total.runs.completed += n;
      continue;
    }
    const at = perStep[r.step]?.runs;
    for (const c of at ? [total.runs, at] : [total.runs]) {
      if (r.status === 'active') c.active += n;
      else {
        c.exited += n;
        const reason = r.exit_reason ?? 'unknown';
        c.exitedByReason[reason] = (c.exitedByReason[reason] ?? 0) + n;
      }
    }
  }
  for (const m of messageRows) {
    const n = Number(m.n);
    const credits = Number(m.credits);
    addMessages(total.messages, m.status, m.skip_reason, n, credits);
    const at = perStep[m.step];
    if (at) addMessages(at.messages, m.status, m.skip_reason, n, credits);
  }
  for (const k of clickRows) {
    const at = perStep[k.step];
    for (const a of at ? [total, at] : [total]) {
      a.clicks += Number(k.human);
      a.uniqueClicks += Number(k.uniq);
      a.botClicks += Number(k.bots);
    }
  }
  // Per currency, for the flow and for the step of each order's message; all orders, and those by click.
  type Sums = Map<string, { orders: number; total: bigint }>;
  const sums = new Map<AttributedRevenue, { all: Sums; click: Sums }>();
  const add = (into: Sums, currency: string, orders: number, minor: bigint): void => {
    const line = into.get(currency) ?? { orders: 0, total: 0n };
    line.orders += orders;
    line.total += minor;
    into.set(currency, line);
  };
  for (const o of orderRows) {
    const at = o.step === null ? undefined : perStep[o.step];
    for (const a of at ? [total, at] : [total]) {
      const by = sums.get(a) ?? { all: new Map(), click: new Map() };
      add(by.all, o.currency, Number(o.orders), o.total);
      if (o.kind === 'click') add(by.click, o.currency, Number(o.orders), o.total);
      sums.set(a, by);
    }
  }
  const lines = (byCurrency: Sums): RevenueLines =>
    [...byCurrency.entries()]
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([currency, line]) => ({ currency, orders: line.orders, amount: minorToDecimal(line.total, currency) }));
  for (const [a, by] of sums) {
    a.attributedRevenue = lines(by.all);
    a.attributedOrders = a.attributedRevenue.reduce((n, line) => n + line.orders, 0);
    a.clickAttributedRevenue = lines(by.click);
    a.clickAttributedOrders = a.clickAttributedRevenue.reduce((n, line) => n + line.orders, 0);
  }
  return total;
}
