import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import IORedis from 'ioredis';
import { createWorkerRedis, isCluster, parseClusterNodes, type RedisClient } from '../../../lib/redis';
import { queuePrefix } from '../../../queue/connection';
import { sleep } from '../../lib/stack';
import { runCampaignScenario, type CampaignContext } from '../campaign-run';
import { onTeardown } from '../cleanup';
import type { ScenarioReport } from '../report';
import { checkProbeCampaignToo, checkWebhooksDrained, outageMidCampaign, probeCampaign } from './outage';
import { ProbeLog } from './probe-log';
import type { ScenarioOptions } from './types';

// R5: the stack runs on a Redis Cluster (REDIS_CLUSTER_NODES, or the local one
// of scripts/redis-cluster.sh, started here if none is given). A third of the
// way into a campaign, the primary serving the sends queue's slot is killed
// with SIGKILL; after the cluster's node timeout its replica is promoted and
// the clients follow the new slot map. Replication is asynchronous, so what
// the primary took in its last moments may be gone: jobs the workers and the
// reconciliation re-derive from Postgres. The killed node is then started
// again and rejoins as the new primary's replica. Nothing may be lost or sent
// twice, and the API answers 503 at worst meanwhile.

const run = promisify(execFile);
const SCRIPT = path.resolve(__dirname, '../../redis-cluster.sh');

/**
 * The cluster to use: the configured one, or the local one of the script,
 * started (or healed) now, and stopped again after the scenario if it was not
 * running before.
 */
async function clusterNodes(): Promise<string> {
  if (process.env.REDIS_CLUSTER_NODES) return process.env.REDIS_CLUSTER_NODES;
  const wasRunning = await run('bash', [SCRIPT, 'status'], { timeout: 10_000 }).then(() => true, () => false);
  const { stdout } = await run('bash', [SCRIPT, 'start'], { timeout: 90_000 });
  if (!wasRunning) onTeardown('the local Redis Cluster R5 started', async () => void (await run('bash', [SCRIPT, 'stop'], { timeout: 30_000 })));
  return stdout.trim().split('\n').at(-1) ?? '';
}

/**
 * host:port of the primary serving the slot of `key`, as the live nodes see
 * it: every node but `skip` (the dead one) is asked at once, each within 1 s.
 */
async function primaryOf(cluster: RedisClient, key: string, skip = ''): Promise<string> {
  if (!isCluster(cluster)) throw new Error('not a cluster client');
  const slot = Number(await cluster.cluster('KEYSLOT', key));
  const answers = await Promise.all(
    cluster
      .nodes('all')
      .filter((node) => `${node.options.host}:${node.options.port}` !== skip)
      .map((node) =>
        Promise.race([
          node.cluster('SLOTS').then((ranges) => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]),
          sleep(1_000).then(() => undefined),
        ]).catch(() => undefined),
      ),
  );
  const owners = answers.filter((a) => a !== undefined).map((a) => `${a[0]}:${a[1]}`);
  // Any node that already knows of the promotion says so; until then all name the old primary.
  const moved = owners.find((o) => o !== skip);
  if (moved && skip) return moved;
  if (owners[0]) return owners[0];
  throw new Error(`no node serves slot ${slot}`);
}

/** The process id of a local redis-server, from its own INFO. */
async function pidOf(address: string): Promise<number> {
  const [host, port] = address.split(':');
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') throw new Error(`R5 kills a local node only; the sends queue is on ${address}`);
  const node = new IORedis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await node.connect();
    const pid = /process_id:(\d+)/.exec(await node.info('server'))?.[1];
    if (!pid) throw new Error(`${address} did not say its process id`);
    return Number(pid);
  } finally {
    node.disconnect();
  }
}

export async function r5ClusterFailover(report: ScenarioReport, o: ScenarioOptions): Promise<void> {
  const nodes = await clusterNodes();
  parseClusterNodes(nodes);
  const recipients = o.fast ? 5_000 : 30_000;
  const log = new ProbeLog();
  let probe: { id: string; size: number } | undefined;
  let checker: RedisClient | undefined;
  let victim = '';
  let promoted = '';
  let failoverMs = 0;
  let promotion: Promise<void> = Promise.resolve();
  let finalAtKill = -1;

  try {
    await runCampaignScenario(report, {
      label: 'R5',
      recipients,
      workers: 2,
      serverUrl: o.databaseUrl,
      sample: o.fast ? recipients : 5_000,
      timeoutMs: o.fast ? 180_000 : 600_000,
      // A provider budget keeps the campaign sending well past the failover
      // (~15 s for the fast run's ~7 500 segments); small batches each get
      // their segments well within half the lease.
      env: { REDIS_CLUSTER_NODES: nodes, SMS_PROVIDER_MPS: o.fast ? '500' : '2000', SEND_BATCH_SIZE: o.fast ? '100' : '1000' },
      async prepare(ctx) {
        probe = await probeCampaign(ctx);
        checker = createWorkerRedis(ctx.stack.config);
        // A dead node's connection errors are expected here; the checks read the slot map.
        checker.on('error', () => undefined);
        report.note(`Redis Cluster ${nodes}; queue prefix ${ctx.stack.config.QUEUE_PREFIX}`);
      },
      async chaos(ctx: CampaignContext) {
        const sendsTag = queuePrefix(ctx.stack.config.QUEUE_PREFIX, 'sends');
        await outageMidCampaign(ctx, {
          log,
          probeCampaignId: probe?.id ?? ctx.campaignId,
          outageMs: 8_000,
          // The replica takes over after the node timeout (2 s in
          // scripts/redis-cluster.sh), watched from the kill on while the API
          // is probed; then the killed node comes back from its node file as
          // the new primary's replica.
          stop: async () => {
            victim = await primaryOf(checker!, sendsTag);
            const pid = await pidOf(victim);
            const killedAt = Date.now();
            process.kill(pid, 'SIGKILL');
            promotion = (async () => {
              for (;;) {
                const now = await primaryOf(checker!, sendsTag, victim).catch(() => victim);
                if (now !== victim) {
                  promoted = now;
                  failoverMs = Date.now() - killedAt;
                  return;
                }
                if (Date.now() - killedAt > 60_000) throw new Error(`no replica took over ${victim}'s slots within 60 s`);
                await sleep(100);
              }
            })();
            // Handled here; awaited (and its error rethrown) in start.
            promotion.catch(() => undefined);
          },
          start: async () => {
            await promotion;
            await run('bash', [SCRIPT, 'start'], { timeout: 90_000 });
          },
          stopped: (before) => {
            finalAtKill = before;
            return `primary ${victim} (serving ${sendsTag}) SIGKILLed at ${before.toLocaleString('en-US')} final recipients`;
          },
          started: (seconds, after) =>
            `replica ${promoted} was promoted ${(failoverMs / 1000).toFixed(1)} s after the kill; ${victim} started again after ${seconds} s and rejoined as its replica, cluster healthy (${after.toLocaleString('en-US')} final recipients)`,
          note: (line) => report.note(line),
        });
      },
      async afterwards(ctx) {
        report.check('the kill landed mid-campaign (recipients still open)', finalAtKill >= 0 && finalAtKill < recipients, `${finalAtKill.toLocaleString('en-US')} of ${recipients.toLocaleString('en-US')} final at the kill`);
        report.check('the primary serving the sends queue failed over to its replica', promoted !== '' && promoted !== victim, `${victim} → ${promoted || 'none'}`);
        for (const line of log.lines()) report.note(`during the failover: ${line}`);
        const bad = log.offending((l) => /^5\d\d/.test(l) && !/^503/.test(l)).concat(log.offending((l) => l.startsWith('no answer')));
        report.check('API answered every probe during the failover, never with a 500', log.total > 0 && bad.length === 0, bad.length ? bad.join('; ') : `${log.total} probes answered`);
        if (probe) await checkProbeCampaignToo(ctx, probe);
        await checkWebhooksDrained(ctx, 150_000);
      },
    });
  } finally {
    checker?.disconnect();
  }
}
