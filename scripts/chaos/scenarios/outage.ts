import { randomBytes } from 'node:crypto';
import type { Db } from '../../../lib/db';
import { sleep } from '../../lib/stack';
import { createCampaign, type CampaignContext } from '../campaign-run';
import type { Probe, ProbeLog } from './probe-log';

// Shared by the outage scenarios: wait for a point in the campaign, the probes
// aimed at the API while a dependency is down, and the recovery checks.

/** Resolves once this share of the audience is final (or the campaign finished). */
export async function waitForShare(ctx: CampaignContext, share: number): Promise<void> {
  const target = Math.floor(ctx.recipients * share);
  while (!ctx.finished && Date.now() < ctx.deadline) {
    if ((await finalCount(ctx.db, ctx.campaignId)) >= target) return;
    await sleep(200);
  }
}

export async function finalCount(db: Db, campaignId: string): Promise<number> {
  try {
    const [row] = await db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND status NOT IN ('pending', 'sending')`;
    return Number(row?.n ?? 0);
  } catch {
    return -1;
  }
}

/** A draft campaign for a small separate audience (tag `probe`): what the enqueue probe aims at during an outage. */
export async function probeCampaign(ctx: CampaignContext, size = 20): Promise<{ id: string; size: number }> {
  await ctx.db.$executeRaw`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent, tags)
    SELECT ${ctx.shop.id}::uuid, p, encode(sha256(p::bytea), 'hex'), 'Probe', 'Chaos', 'subscribed', ARRAY['probe']
      FROM generate_series(0, ${size - 1}::int) g, LATERAL (SELECT '+1202' || (2000000 + g)::text AS p) x`;
  return { id: await createCampaign(ctx.api, ctx.shop.domain, 'Probe', ['probe']), size };
}

/** An authed GET, an enqueue (fresh key each time), a webhook (fresh delivery each time) and /health/full. */
export function apiProbes(ctx: CampaignContext, probeCampaignId: string): Probe[] {
  let n = 0;
  return [
    { name: 'GET /health/full', call: (api) => api.get('/health/full') },
    { name: 'GET /api/campaigns/:id/stats', call: (api) => api.call(ctx.shop.domain, 'GET', `/campaigns/${ctx.campaignId}/stats`) },
    {
      name: 'POST /api/campaigns/:id/enqueue',
      call: (api) => api.call(ctx.shop.domain, 'POST', `/campaigns/${probeCampaignId}/enqueue`, {}, { 'Idempotency-Key': `probe-${randomBytes(6).toString('hex')}` }),
    },
    {
      name: 'POST /webhooks/shopify',
      call: (api) => {
        const id = 7_000_000_000 + n++;
        const raw = JSON.stringify({ id, phone: `+1203555${String(1000 + (n % 8999))}`, first_name: 'Probe', updated_at: new Date().toISOString(), sms_marketing_consent: { state: 'subscribed' } });
        return api.shopifyWebhook('customers/create', `wh-probe-${randomBytes(6).toString('hex')}`, ctx.shop.domain, raw);
      },
    },
  ];
}

/** If an enqueue probe got through, its campaign must send and be checked like the main one. */
export async function checkProbeCampaignToo(ctx: CampaignContext, probe: { id: string; size: number }): Promise<void> {
  const [row] = await ctx.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${probe.id}::uuid`;
  if (row && row.status !== 'draft') ctx.alsoCheck.push({ id: probe.id, shopId: ctx.shop.id, expectedRecipients: probe.size, label: 'probe' });
}

/**
 * Webhooks stored while their job could not be queued (or processed) are
 * picked up again by reconciliation: wait until none is left unprocessed.
 */
export async function checkWebhooksDrained(ctx: CampaignContext, timeoutMs: number): Promise<void> {
  const until = Math.min(ctx.deadline, Date.now() + timeoutMs);
  const started = Date.now();
  let open: { status: string; n: bigint }[];
  for (;;) {
    open = await ctx.db.$queryRaw<{ status: string; n: bigint }[]>`
      SELECT status, count(*) AS n FROM webhook_events WHERE status IN ('received', 'failed') GROUP BY status`;
    if (open.length === 0 || Date.now() > until) break;
    await sleep(500);
  }
  const [all] = await ctx.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events`;
  ctx.report.check(
    'every stored webhook was processed (none left received/failed)',
    open.length === 0,
    `${Number(all?.n ?? 0).toLocaleString('en-US')} webhook events, open: ${open.map((o) => `${o.status} ${o.n}`).join(', ') || 'none'} (waited ${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
}

/**
 * The outage of R2 and R3: once a third of the campaign is final, `stop` the
 * dependency, probe the API every 500 ms for `outageMs` (answers go to `log`),
 * then `start` it again. `stopped` and `started` word the two report notes.
 */
export async function outageMidCampaign(
  ctx: CampaignContext,
  o: {
    log: ProbeLog;
    probeCampaignId: string;
    outageMs: number;
    stop: () => Promise<void>;
    start: () => Promise<void>;
    stopped: (finalBefore: number) => string;
    started: (seconds: string, finalAfter: number) => string;
    note: (line: string) => void;
  },
): Promise<void> {
  await waitForShare(ctx, 1 / 3);
  if (ctx.finished) throw new Error('campaign finished before the outage could start');
  const before = await finalCount(ctx.db, ctx.campaignId);
  await o.stop();
  const down = Date.now();
  o.note(o.stopped(before));
  while (Date.now() - down < o.outageMs) {
    await o.log.round(ctx.api, apiProbes(ctx, o.probeCampaignId));
    await sleep(500);
  }
  await o.start();
  const seconds = ((Date.now() - down) / 1000).toFixed(1);
  o.note(o.started(seconds, await finalCount(ctx.db, ctx.campaignId)));
}
