import { sleep } from '../../lib/stack';
import { runCampaignScenario, type CampaignContext } from '../campaign-run';
import type { ScenarioReport } from '../report';
import type { ScenarioOptions } from './types';

// R9: the provider misbehaves for the whole campaign, through the simulator's
// POST /_faults: 20 % of requests answer 5xx (nothing sent), 5 % accept every
// message and then never answer (sent, outcome unknown to us: the worker's
// provider timeout is short), and every few seconds a burst of 429s. Retries
// must never become a second SMS (re-sends reuse the reference, the provider
// dedups them) and never a second charge.

const BASE = { errorRate: 0.2, hangRate: 0.05 };

async function setFaults(simUrl: string, faults: Record<string, number>): Promise<void> {
  const res = await fetch(`${simUrl}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults), signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`simulator /_faults answered ${res.status}`);
}

async function rateLimitBursts(ctx: CampaignContext): Promise<void> {
  let bursts = 0;
  // The first burst comes early, so even a short run meets one.
  let pause = 1_000;
  while (!ctx.finished && Date.now() < ctx.deadline) {
    for (let waited = 0; waited < pause && !ctx.finished; waited += 250) await sleep(250);
    pause = 4_000;
    if (ctx.finished) break;
    await setFaults(ctx.stack.urls.simulator, { ...BASE, rateLimitRate: 1 });
    await sleep(1_000);
    await setFaults(ctx.stack.urls.simulator, BASE);
    bursts++;
  }
  ctx.report.note(`${bursts} one-second bursts of 429 on top of ${BASE.errorRate * 100} % 5xx and ${BASE.hangRate * 100} % accept-then-hang`);
}

/** Σ over the worker processes of sms_provider_request_duration_seconds_count, by outcome. */
async function providerOutcomes(ctx: CampaignContext): Promise<Map<string, number>> {
  const byOutcome = new Map<string, number>();
  for (const url of ctx.stack.urls.workerMetrics) {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
    for (const line of text.split('\n')) {
      const m = /^sms_provider_request_duration_seconds_count\{[^}]*outcome="([a-z_]+)"[^}]*\} (\d+)/.exec(line);
      if (m?.[1]) byOutcome.set(m[1], (byOutcome.get(m[1]) ?? 0) + Number(m[2]));
    }
  }
  return byOutcome;
}

export async function r9ProviderFaults(report: ScenarioReport, o: ScenarioOptions): Promise<void> {
  const recipients = o.fast ? 5_000 : 20_000;
  await runCampaignScenario(report, {
    label: 'R9',
    recipients,
    workers: 2,
    serverUrl: o.databaseUrl,
    sample: 5_000,
    timeoutMs: 600_000,
    // Small batches: more provider requests, so every fault kind is hit many times.
    env: { SEND_BATCH_SIZE: o.fast ? '50' : '100', SMS_PROVIDER_TIMEOUT_MS: '1500' },
    async prepare(ctx) {
      await setFaults(ctx.stack.urls.simulator, BASE);
    },
    chaos: rateLimitBursts,
    async afterwards(ctx) {
      await setFaults(ctx.stack.urls.simulator, {});
      const outcomes = await providerOutcomes(ctx);
      const shown = [...outcomes.entries()].map(([k, n]) => `${k} ${n}`).join(', ');
      report.check(
        'every fault kind reached the workers (5xx, timeouts after send, 429)',
        (outcomes.get('unavailable') ?? 0) > 0 && (outcomes.get('unknown') ?? 0) > 0 && (outcomes.get('rate_limited') ?? 0) > 0,
        `provider requests by outcome: ${shown}`,
      );
    },
  });
}
