import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCampaignScenario, type CampaignContext } from '../campaign-run';
import type { ScenarioReport } from '../report';
import { PrivatePostgres } from '../services';
import { checkProbeCampaignToo, checkWebhooksDrained, outageMidCampaign, probeCampaign } from './outage';
import { ProbeLog } from './probe-log';
import type { ScenarioOptions } from './types';

// R3: the stack's own Postgres cluster (initdb into /tmp, a private port) is
// crashed (immediate shutdown: no checkpoint, WAL replay at restart) a third
// of the way into a campaign and restarted seconds later. While it is down,
// every API route must answer 503 DEPENDENCY_UNAVAILABLE (/health/full: 503),
// never a 500; afterwards the campaign completes with every invariant intact.

const OUTAGE_MS = 6_000;

export async function r3PostgresRestart(report: ScenarioReport, o: ScenarioOptions): Promise<void> {
  const pg = await PrivatePostgres.start(mkdtempSync(path.join(tmpdir(), 'sms-chaos-pg-logs-')));
  report.note(`private Postgres cluster in ${pg.dataDir} on :${pg.port}`);
  const recipients = o.fast ? 5_000 : 30_000;
  let probe: { id: string; size: number } | undefined;
  const log = new ProbeLog();

  await runCampaignScenario(report, {
    label: 'R3',
    recipients,
    workers: 2,
    serverUrl: pg.url(),
    sample: 5_000,
    timeoutMs: 600_000,
    env: { SMS_PROVIDER_MPS: '2000' },
    async prepare(ctx) {
      probe = await probeCampaign(ctx);
    },
    async chaos(ctx: CampaignContext) {
      await outageMidCampaign(ctx, {
        log,
        probeCampaignId: probe?.id ?? ctx.campaignId,
        outageMs: OUTAGE_MS,
        stop: () => pg.stop('SIGQUIT'),
        start: () => pg.startAgain(),
        stopped: (before) => `postgres crashed (immediate shutdown) at ${before.toLocaleString('en-US')} final recipients`,
        started: (seconds) => `postgres restarted after ${seconds} s (crash recovery from the WAL)`,
        note: (line) => report.note(line),
      });
    },
    async afterwards(ctx) {
      for (const line of log.lines()) report.note(`during the outage: ${line}`);
      const not503 = log.offending((l) => !l.startsWith('503'));
      const wrongCode = log.offending((l) => l.startsWith('503') && !/DEPENDENCY_UNAVAILABLE| down$| degraded$/.test(l));
      report.check(
        'API answered 503 DEPENDENCY_UNAVAILABLE (503 for /health/full) during the outage, never 500',
        log.total > 0 && not503.length === 0 && wrongCode.length === 0,
        not503.length + wrongCode.length > 0 ? [...not503, ...wrongCode].join('; ') : `${log.total} probes, all 503`,
      );
      if (probe) await checkProbeCampaignToo(ctx, probe);
      await checkWebhooksDrained(ctx, 150_000);
    },
  });
}
