import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCampaignScenario, type CampaignContext } from '../campaign-run';
import type { ScenarioReport } from '../report';
import { PrivateRedis } from '../services';
import { checkProbeCampaignToo, checkWebhooksDrained, outageMidCampaign, probeCampaign } from './outage';
import { ProbeLog } from './probe-log';
import type { ScenarioOptions } from './types';

// R2: the stack's own redis-server (no persistence) is killed a third of the
// way into a campaign and started again, empty, seconds later: every job, lock,
// job scheduler and rate-limit counter is gone. Nothing is re-added by hand —
// the workers, the outbox and the reconciliation scheduler must re-derive the
// work from Postgres on their own. Meanwhile the API must answer, never 500.

const OUTAGE_MS = 5_000;

export async function r2RedisRestart(report: ScenarioReport, o: ScenarioOptions): Promise<void> {
  const redis = await PrivateRedis.start(mkdtempSync(path.join(tmpdir(), 'sms-chaos-redis-')));
  const recipients = o.fast ? 5_000 : 30_000;
  let probe: { id: string; size: number } | undefined;
  const log = new ProbeLog();

  await runCampaignScenario(report, {
    label: 'R2',
    recipients,
    workers: 2,
    serverUrl: o.databaseUrl,
    sample: 5_000,
    timeoutMs: 600_000,
    // A provider budget keeps the campaign sending long enough to be cut in the middle.
    // Its own redis-server, even when the run is on a cluster (REDIS_CLUSTER_NODES).
    env: { REDIS_URL: redis.url, REDIS_CLUSTER_NODES: '', SMS_PROVIDER_MPS: '2000' },
    async prepare(ctx) {
      probe = await probeCampaign(ctx);
    },
    async chaos(ctx: CampaignContext) {
      await outageMidCampaign(ctx, {
        log,
        probeCampaignId: probe?.id ?? ctx.campaignId,
        outageMs: OUTAGE_MS,
        stop: () => redis.stop('SIGKILL'),
        start: () => redis.startAgain(),
        stopped: (before) => `redis-server (:${redis.port}) killed at ${before.toLocaleString('en-US')} final recipients; no persistence, so every key is lost`,
        started: (seconds, after) => `redis-server started again, empty, after ${seconds} s (${after.toLocaleString('en-US')} final recipients); recovery left to the system`,
        note: (line) => report.note(line),
      });
    },
    async afterwards(ctx) {
      for (const line of log.lines()) report.note(`during the outage: ${line}`);
      const bad = log.offending((l) => /^5\d\d/.test(l) && !/^503/.test(l)).concat(log.offending((l) => l.startsWith('no answer')));
      report.check('API answered every probe during the outage, never with a 500', log.total > 0 && bad.length === 0, bad.length ? bad.join('; ') : `${log.total} probes answered (200/202/409/503 only)`);
      if (probe) await checkProbeCampaignToo(ctx, probe);
      await checkWebhooksDrained(ctx, 150_000);
    },
  });
}
