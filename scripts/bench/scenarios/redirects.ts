// Short-link redirects while a campaign sends (issue #16): a campaign whose
// body holds a link is enqueued through the API; as soon as its first
// messages are out, GET /<code> of the sent recipients' links is offered at a
// fixed rate (open loop: latency counts from when a request was due) with a
// phone's user agent, while the rest of the campaign is still being sent.
// Against the links process when the stack runs one (as production does),
// else the api. Reported: redirects/s answered 302, p50/p99, the generator's
// own lag (it shares the cores), whether the campaign was still sending for
// the whole load, and the clicks then flushed.

import { linkCode } from '../../../domain/links/link-code';
import type { ApiClient } from '../../lib/session-client';
import { sleep, type Stack } from '../../lib/stack';
import type { BenchDb } from '../bench-db';
import { cpuNiceOf, setCpuNice } from '../../lib/cpu-weight';
import { LeanHttpPool } from '../http-client';
import { closedLoop, fixedRate, okCount, summary, type LoadRequest } from '../load';
import { ResourceMeter, type CpuBreakdown } from '../meter';

export const LINK_CAMPAIGN_BODY = 'Hi {{firstName|there}}, our winter sale starts today at {{shopName}}: https://bench-shop.example.com/collections/winter?src=sms';
/**
 * The redirector's and the load generator's CPU weight while the campaign
 * saturates both cores. In production the redirector has CPU of its own (its
 * own container or instances behind PUBLIC_LINK_BASE) and the clicks come
 * from phones, not from a process on the same two cores. Here, without a
 * weight, the scheduler shares the cores evenly between the six busy
 * processes, the redirector gets ~0.3 of a core where 5 000/s needs ~0.45,
 * and its backlog grows for the whole load (p50 ~1.2 s). The weight is the
 * session's (autogroup) nice, the only one that counts across the stack's
 * processes (scripts/lib/cpu-weight.ts): the `nice -10` tried earlier set
 * the process's own and changed nothing.
 */
export const REDIRECTOR_CPU_NICE = -20;
const WARMUP_CLICKS = 2_000;
/** Every connection the load may use is opened by the warm-up: a hiccup of a few ms at 5 000/s needs dozens more, and opening them mid-load is a burst of connects no steady stream has. */
const LOAD_SOCKETS = 256;
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';

export interface RedirectRun {
  audience: number;
  offeredRate: number;
  requests: number;
  redirected: number;
  /** Answers other than 302 by status (0 = transport error or timeout). */
  others: Record<number, number>;
  rate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** How late the generator itself sent requests after they were due (part of every latency; on this shared machine it competes for the same cores). */
  generatorLagMs?: { p50: number; p99: number };
  /** Distinct codes the load cycled through. */
  codes: number;
  /** The campaign was `sending` when the load started and when it ended. */
  sendingThroughout: boolean;
  /** Messages the provider accepted for the campaign during the load. */
  sentDuringLoad: number;
  /** link_clicks rows of the campaign once the api flushed (should equal `redirected`). */
  clicksRecorded: number;
  cpu: CpuBreakdown;
  /** Connections the generator had to open during the load (beyond the warm-up's): each is a burst of work for the redirector. */
  connectsDuringLoad: number;
  /** The CPU weight the redirector and the generator ran with (REDIRECTOR_CPU_NICE), as applied. */
  scheduling: { redirector: string; generator: string };
}

async function sentCount(db: BenchDb, campaignId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = $1 AND status IN ('sent', 'delivered')`, [campaignId]);
  return Number(rows[0]?.n ?? 0);
}

async function clicksOf(db: BenchDb, campaignId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM link_clicks WHERE campaign_id = $1', [campaignId]);
  return Number(rows[0]?.n ?? 0);
}

async function campaignStatus(db: BenchDb, campaignId: string): Promise<string> {
  const { rows } = await db.pool.query<{ status: string }>('SELECT status FROM campaigns WHERE id = $1', [campaignId]);
  return rows[0]?.status ?? 'missing';
}

export async function redirectLoad(
  stack: Stack,
  db: BenchDb,
  api: ApiClient,
  o: { audience: number; rate: number; seconds: number; redisPid: number | null; label: string; log: (l: string) => void },
): Promise<RedirectRun> {
  const created = await api.call<{ id: string }>('POST', '/campaigns', { name: `Bench links ${o.label}`, body: LINK_CAMPAIGN_BODY, audience: { tags: ['bench'] } });
  if (created.status !== 201) throw new Error(`POST /campaigns answered ${created.status}: ${JSON.stringify(created.body)}`);
  const campaignId = created.body.id;
  const enq = await api.call('POST', `/campaigns/${campaignId}/enqueue`, {}, { 'Idempotency-Key': `bench-links-${o.label}` });
  if (enq.status !== 202) throw new Error(`enqueue answered ${enq.status}: ${JSON.stringify(enq.body)}`);

  // Codes of the first messages out (as the recipients' phones got them).
  const t0 = Date.now();
  while ((await sentCount(db, campaignId)) < Math.min(2_000, o.audience)) {
    stack.assertAlive();
    if (Date.now() - t0 > 120_000) throw new Error('links campaign sent nothing within 120 s');
    await sleep(20);
  }
  const { rows: sent } = await db.pool.query<{ id: string; link_no: string }>(
    `SELECT r.id, c.link_no FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id
      WHERE r.campaign_id = $1 AND r.status IN ('sent', 'delivered') LIMIT 5000`,
    [campaignId],
  );
  const key = stack.config.LINK_SIGNING_KEY;
  // The redirector process when the stack runs one (PUBLIC_LINK_BASE points at it), else the api.
  const linkOrigin = stack.urls.links ?? stack.urls.api;
  const prefix = new URL(stack.config.PUBLIC_LINK_BASE ?? linkOrigin).pathname.replace(/\/+$/, '');
  const paths = sent.map((r) => `${prefix}/${linkCode(key, Number(r.link_no), Number(r.id), 0)}`);

  // The first click of a campaign in a process reads its links once (every
  // click meanwhile waits for that read); with Postgres busy sending, that
  // read alone can take a second, and at a rate near capacity the backlog it
  // leaves never drains. Real clicks ramp up; the figure is the steady state:
  // the warm-up also opens the generator's connections (a cold pool starts
  // with a burst of connects no steady stream has), brings the redirect path
  // to optimised code, and its clicks are flushed before the clock starts.
  const click = (i: number): LoadRequest => ({ method: 'GET', path: paths[i % paths.length] as string, headers: { 'User-Agent': IPHONE } });
  const pool = new LeanHttpPool(linkOrigin, LOAD_SOCKETS);
  const warmup = await closedLoop(linkOrigin, { pool, concurrency: LOAD_SOCKETS, count: WARMUP_CLICKS, make: click });
  const warmupClicks = okCount(warmup, 302);
  for (let i = 0; i < 50 && (await clicksOf(db, campaignId)) < warmupClicks; i++) await sleep(100);
  const meter = new ResourceMeter(stack, db, o.redisPid);
  await meter.sample();
  const statusBefore = await campaignStatus(db, campaignId);
  const sentBefore = await sentCount(db, campaignId);
  const count = Math.round(o.rate * o.seconds);
  const openedBefore = pool.opened;
  const generatorNice = cpuNiceOf(process.pid);
  const generatorWeight = setCpuNice(process.pid, REDIRECTOR_CPU_NICE);
  const load = await fixedRate(linkOrigin, {
    pool,
    rate: o.rate,
    count,
    make: click,
  });
  const connectsDuringLoad = pool.opened - openedBefore;
  pool.destroy();
  setCpuNice(process.pid, generatorNice);
  const statusAfter = await campaignStatus(db, campaignId);
  const sentAfter = await sentCount(db, campaignId);
  await meter.sample();
  const s = summary(load.latenciesMs);
  const redirected = okCount(load, 302);
  const others = Object.fromEntries(Object.entries(load.statuses).filter(([k]) => k !== '302')) as Record<number, number>;

  // The api flushes its click buffer twice a second.
  let clicksRecorded = 0;
  for (let i = 0; i < 50; i++) {
    clicksRecorded = (await clicksOf(db, campaignId)) - warmupClicks;
    if (clicksRecorded >= redirected) break;
    await sleep(200);
  }
  // Let the campaign finish so the next scenario starts from a quiet stack.
  const tEnd = Date.now();
  while (!['completed', 'cancelled', 'failed'].includes(await campaignStatus(db, campaignId)) && Date.now() - tEnd < Math.max(120_000, o.audience / 5)) await sleep(100);

  const run: RedirectRun = {
    audience: o.audience,
    offeredRate: o.rate,
    requests: count,
    redirected,
    others,
    rate: load.rate,
    p50Ms: s.p50,
    p99Ms: s.p99,
    maxMs: s.max,
    ...(load.lagMs ? { generatorLagMs: { p50: summary(load.lagMs).p50, p99: summary(load.lagMs).p99 } } : {}),
    codes: paths.length,
    sendingThroughout: statusBefore === 'sending' && statusAfter === 'sending',
    sentDuringLoad: sentAfter - sentBefore,
    clicksRecorded,
    cpu: meter.cpu(),
    connectsDuringLoad,
    scheduling: { redirector: stack.services.find((x) => x.kind === 'links')?.cpuWeight ?? 'none', generator: generatorWeight },
  };
  o.log(
    `  redirects: ${Math.round(run.rate).toLocaleString('en-US')}/s offered ${o.rate}/s, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms (generator lag p99 ${run.generatorLagMs?.p99.toFixed(2) ?? '?'} ms), ${redirected}/${count} 302, ` +
      `${run.sentDuringLoad.toLocaleString('en-US')} messages sent meanwhile${run.sendingThroughout ? '' : ' (campaign not sending throughout)'}, ${clicksRecorded} clicks recorded, ${connectsDuringLoad} connections opened during the load; redirector ${run.scheduling.redirector}, generator ${run.scheduling.generator}`,
  );
  return run;
}
