import { sleep } from '../../lib/stack';
import { runCampaignScenario, type CampaignContext } from '../campaign-run';
import type { ScenarioReport } from '../report';
import type { ScenarioOptions } from './types';

// R1: both worker processes are killed with SIGKILL, one after the other every
// few seconds (now and then both at once), and a fresh one started each time.
// A simulator latency keeps requests in flight, so kills land between "the
// provider accepted" and "the settle committed" — the dangerous window.

const KILL_EVERY_MS = 3_000;

/** Kills for `forMs` (or until the campaign finished), then lets the system recover. */
async function killWorkers(ctx: CampaignContext, forMs: number): Promise<void> {
  let kills = 0;
  let round = 0;
  // Let the launch materialise the recipients before the first kill.
  await sleep(1_500);
  const until = Math.min(ctx.deadline, Date.now() + forMs);
  while (!ctx.finished && Date.now() < until) {
    round++;
    const alive = ctx.stack.workers();
    const victims = round % 4 === 0 ? alive : alive.slice(0, 1);
    for (const w of victims) ctx.stack.signal(w, 'SIGKILL');
    kills += victims.length;
    await Promise.all(victims.map(() => ctx.stack.addWorker()));
    for (let waited = 0; waited < KILL_EVERY_MS && !ctx.finished; waited += 250) await sleep(250);
  }
  ctx.report.note(`${kills} worker processes killed with SIGKILL in ${round} rounds, each replaced${ctx.finished ? '' : '; no more kills from here, recovery runs on its own'}`);
}

/** The kills must have landed mid-send, or the run proved nothing: rows claimed again after a dead worker's claim. */
async function checkKillsHitSends(ctx: CampaignContext): Promise<void> {
  const [row] = await ctx.db.$queryRaw<{ reclaimed: bigint; batches: bigint }[]>`
    SELECT count(*) AS reclaimed, count(DISTINCT batch_no) AS batches FROM campaign_recipients WHERE campaign_id = ${ctx.campaignId}::uuid AND attempt > 1`;
  const reclaimed = Number(row?.reclaimed ?? 0);
  ctx.report.check('kills landed mid-send (recipients claimed again after their worker died)', reclaimed > 0, `${reclaimed.toLocaleString('en-US')} recipients in ${Number(row?.batches ?? 0)} batches`);
}

export async function r1WorkerKills(report: ScenarioReport, o: ScenarioOptions): Promise<void> {
  const recipients = o.fast ? 5_000 : 100_000;
  await runCampaignScenario(report, {
    label: 'R1',
    recipients,
    workers: 2,
    serverUrl: o.databaseUrl,
    sample: o.fast ? recipients : 5_000,
    // Fast: 5 000 messages at the 200 segments/s budget are ~50 s of sending,
    // plus the killed workers' claims running out (their 60 s leases) before
    // their batches go again; how long depends on how many batches the kills
    // strand (25–40 of 50 measured: 163–248 s, every invariant holding). 150 s
    // left CI no margin; 300 s left ~50 s of it.
    timeoutMs: o.fast ? 400_000 : 900_000,
    // The fast run: small batches and a provider budget stretch it over several
    // kill rounds, and a slow provider keeps a send in flight most of the time,
    // so nearly every kill lands between the provider call and the settle.
    env: o.fast ? { SEND_BATCH_SIZE: '100', SMS_PROVIDER_MPS: '200' } : {},
    async prepare(ctx) {
      const latencyMs = o.fast ? 1_000 : 150;
      await fetch(`${ctx.stack.urls.simulator}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs }) });
    },
    // A dead worker's batches come back once BullMQ sees their jobs stalled
    // (30-60 s): the fast run stops killing after 15 s so it ends in CI time.
    chaos: (ctx) => killWorkers(ctx, o.fast ? 15_000 : Number.POSITIVE_INFINITY),
    afterwards: checkKillsHitSends,
  });
}
