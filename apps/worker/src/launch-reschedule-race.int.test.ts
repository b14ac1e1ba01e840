import request from 'supertest';
import type { Express } from 'express';
import { Worker } from 'bullmq';
import { queueOptions } from '../../../queue/connection';
import { jobIds } from '../../../queue/job-ids';
import { deferLaunch } from './processors/campaign-launch.processor';
import { createContactsBulk, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { sessionToken } from '../../../test/session-token';
import { disableQuietHours, queuedCampaign } from '../../../test/sending';
import { launchCampaign, type LaunchResult } from '../../../domain/campaigns/launch-campaign';

// A scheduled campaign moved later (PATCH scheduledAt) while its launch job,
// due at the old time, runs. Whichever commits first, the two agree: a move
// answered 200 means nothing was sent at the old time (the launch defers to
// the new one, so the campaign is not lost either); a launch that went first
// makes the move 409. Never both, and never recipients twice.

describe('moving a scheduled campaign while its launch runs', () => {
  let env: TestEnv;
  let app: Express;
  let worker: ReturnType<TestEnv['workerDeps']>;
  // Test-only pause (this file's schema): a recipient insert waits while the test holds advisory lock PAUSE.
  const PAUSE = 424_242;
  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    worker = env.workerDeps();
    await env.db.$executeRawUnsafe(`CREATE FUNCTION test_pause_recipients() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock_shared(${PAUSE}); RETURN NULL; END $$`);
    await env.db.$executeRawUnsafe(`CREATE TRIGGER test_pause_recipients BEFORE INSERT ON campaign_recipients FOR EACH STATEMENT EXECUTE FUNCTION test_pause_recipients()`);
  });
  afterAll(async () => {
    await env.close();
  });

  interface Scheduled {
    shopId: string;
    campaignId: string;
    auth: string;
    oldAt: Date;
    newAt: Date;
  }
  async function scheduled(): Promise<Scheduled> {
    const shop = await createShop(env.db, { credits: 1_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, 3);
    const oldAt = new Date(Date.now() + 3_600_000);
    const c = await queuedCampaign(env.db, shop.id, { scheduledAt: oldAt });
    return { shopId: shop.id, campaignId: c.id, auth: `Bearer ${await sessionToken(shop.domain)}`, oldAt, newAt: new Date(oldAt.getTime() + 3_600_000) };
  }
  /** The launch job as it runs at the old time (a clock of its own: the api's is the real one, before both times). */
  const launchAtOldTime = (s: Scheduled): Promise<LaunchResult> =>
    launchCampaign({ db: env.db, producer: worker.producer, now: () => new Date(s.oldAt.getTime() + 1_000), batchSize: 100 }, { campaignId: s.campaignId, shopId: s.shopId, traceId: 'race' });
  const moveLater = (s: Scheduled) => request(app).patch(`/api/campaigns/${s.campaignId}`).set('Authorization', s.auth).send({ scheduledAt: s.newAt.toISOString() });
  async function state(s: Scheduled): Promise<{ status: string; scheduledAt: string; recipients: number; batches: number }> {
    const [r] = await env.db.$queryRaw<{ status: string; scheduled_at: Date; recipients: number; batches: number }[]>`
      SELECT c.status, c.scheduled_at,
             (SELECT count(*)::int FROM campaign_recipients x WHERE x.campaign_id = c.id) AS recipients,
             (SELECT count(*)::int FROM campaign_batches b WHERE b.campaign_id = c.id) AS batches
        FROM campaigns c WHERE c.id = ${s.campaignId}::uuid`;
    return { status: r!.status, scheduledAt: r!.scheduled_at.toISOString(), recipients: r!.recipients, batches: r!.batches };
  }

  it('a move that commits between the launch reading the campaign due and the launch writing it sending: 200, and the launch defers to the new time', async () => {
    const s = await scheduled();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const holding = new Promise<void>((r) => (held = r));
    const pause = env.db.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT pg_advisory_xact_lock(${PAUSE})`;
        held();
        await released;
      },
      { timeout: 30_000 },
    );
    await holding;
    const launch = launchAtOldTime(s);
    try {
      // The launch has read the campaign (due) and waits at its recipient insert.
      for (let i = 0; ; i++) {
        const [w] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${PAUSE} AND NOT granted`;
        if (w!.n > 0) break;
        if (i > 500) throw new Error('the launch never reached its recipient insert');
        await new Promise((r) => setTimeout(r, 10));
      }
      const moved = await moveLater(s);
      expect(moved.status).toBe(200);
      expect(moved.body).toMatchObject({ status: 'scheduled', scheduledAt: s.newAt.toISOString() });
    } finally {
      release();
      await pause;
    }
    expect(await launch).toEqual({ outcome: 'deferred', until: s.newAt, reason: 'scheduled' });
    expect(await state(s)).toEqual({ status: 'scheduled', scheduledAt: s.newAt.toISOString(), recipients: 0, batches: 0 });
  });

  it('raced freely round after round (two launch runs and a move): either the move is 200 and nothing was sent, or it is 409 and the campaign launched once', async () => {
    const outcomes = new Set<number>();
    for (let round = 0; round < 12; round++) {
      const s = await scheduled();
      const [moved, a, b] = await Promise.all([moveLater(s), launchAtOldTime(s), launchAtOldTime(s)]);
      outcomes.add(moved.status);
      const after = await state(s);
      if (moved.status === 200) {
        expect({ round, a, b, after }).toEqual({
          round,
          a: { outcome: 'deferred', until: s.newAt, reason: 'scheduled' },
          b: { outcome: 'deferred', until: s.newAt, reason: 'scheduled' },
          after: { status: 'scheduled', scheduledAt: s.newAt.toISOString(), recipients: 0, batches: 0 },
        });
      } else {
        expect({ round, status: moved.status, code: moved.body.error?.code }).toEqual({ round, status: 409, code: 'INVALID_STATE' });
        expect({ round, after }).toEqual({ round, after: { status: 'sending', scheduledAt: s.oldAt.toISOString(), recipients: 3, batches: 1 } });
        for (const r of [a, b]) expect(r).toMatchObject({ outcome: 'launched', recipients: 3, batches: 1 });
      }
    }
    // Both orders are possible; whichever happened, the invariant held.
    expect([...outcomes].every((st) => st === 200 || st === 409)).toBe(true);
  });
  it('moved earlier while its launch job is running (deciding to wait for the later time): the job is due at the earlier time', async () => {
    const s = await scheduled();
    const earlier = new Date(s.oldAt.getTime() - 1_800_000);
    const payload = { traceId: 'race', campaignId: s.campaignId, shopId: s.shopId };
    const jobId = jobIds.launch(s.campaignId);
    // The launch job, woken (by an earlier time the campaign was moved later from) and taken by a worker: active.
    await worker.producer.add('campaign.launch.v1', payload, { jobId });
    const taker = new Worker('campaigns', null, { ...queueOptions(worker.redis, env.prefix, 'campaigns'), autorun: false });
    try {
      const token = 'race-token';
      const job = await taker.getNextJob(token, { block: false });
      expect(job?.id).toBe(jobId);
      // The launch reads the campaign: not due before the later time.
      const result = await launchCampaign({ db: env.db, producer: worker.producer, now: worker.now, batchSize: 100 }, payload);
      expect(result).toEqual({ outcome: 'deferred', until: s.oldAt, reason: 'scheduled' });
      // Moved earlier now: committed and published while the job is still active (nothing delayed to bring forward).
      const moved = await request(app).patch(`/api/campaigns/${s.campaignId}`).set('Authorization', s.auth).send({ scheduledAt: earlier.toISOString() });
      expect(moved.status).toBe(200);
      // The run ends by putting its job back for the time it read.
      await expect(deferLaunch(worker, job!, token, payload, result.outcome === 'deferred' ? result.until : s.oldAt)).rejects.toThrow();
      const queue = worker.queues.get('campaigns');
      const score = await worker.redis.zscore(queue.toKey('delayed'), jobId);
      const dueAt = score === null ? null : Math.floor(Number(score) / 0x1000);
      expect(dueAt !== null && Math.abs(dueAt - earlier.getTime()) < 2_000 ? 'at the earlier time' : `due ${dueAt === null ? 'never' : new Date(dueAt).toISOString()}`).toBe('at the earlier time');
    } finally {
      await taker.close();
    }
  });
});
