import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import type { ApiDeps } from '../../api/src/deps';
import { jobIds } from '../../../queue/job-ids';
import { createCampaign, createContact, createShop } from '../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { sessionToken } from '../../../test/session-token';
import { campaignStatus, waitFor } from '../../../test/sending';

// A scheduled campaign moved through the API while its launch job waits in
// BullMQ's delayed set, with the real launch worker and the real clock: the
// job must be due at the time the campaign says, whichever way it moved.

describe('rescheduling a scheduled campaign (API and the launch worker)', () => {
  let env: TestEnv;
  let app: Express;
  let deps: ApiDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps } = await env.api());
    await env.worker({ queues: ['campaigns'] });
  });
  afterAll(async () => {
    await env.close();
  });

  it('moved later (the launch re-delays itself), then earlier: the job is due at the earlier time, not the later one', async () => {
    const shop = await createShop(env.db, { credits: 10 });
    await createContact(env.db, shop.id);
    const c = await createCampaign(env.db, shop.id, { scheduledAt: new Date(Date.now() + 3600_000) });
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const enqueued = await request(app).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', auth).set('Idempotency-Key', randomUUID()).send({});
    expect(enqueued.body.campaign).toMatchObject({ status: 'scheduled' });
    const reschedule = async (at: Date): Promise<void> => {
      const res = await request(app).patch(`/api/campaigns/${c.id}`).set('Authorization', auth).send({ scheduledAt: at.toISOString() });
      expect(res.body).toMatchObject({ status: 'scheduled', scheduledAt: at.toISOString() });
    };
    const queue = deps.queues.get('campaigns');
    // When the job is really due: its score in the delayed set (due ms × 0x1000 + a tie-breaker); null while not delayed.
    const dueAt = async (): Promise<number | null> => {
      const score = await deps.redis.zscore(queue.toKey('delayed'), jobIds.launch(c.id));
      return score === null ? null : Math.floor(Number(score) / 0x1000);
    };
    const near = (due: number | null, at: Date): boolean => due !== null && Math.abs(due - at.getTime()) < 500;

    // Moved two hours later: the job stays due at the old time.
    const later = new Date(Date.now() + 3 * 3600_000);
    await reschedule(later);
    // The old time comes (here: 1.5 s after the enqueue, the job promoted; in life hours or days):
    // the launch finds the campaign not yet due and re-delays its job to the new time.
    await new Promise((r) => setTimeout(r, 1_500));
    await (await queue.getJob(jobIds.launch(c.id)))!.promote();
    await waitFor('launch re-delayed to the new time', async () => near(await dueAt(), later));
    expect(await campaignStatus(env.db, c.id)).toBe('scheduled');

    // Then moved earlier, by less than the time since the enqueue: the job's `timestamp + delay`
    // (the add's time plus a delay counted from the re-delay) fell that much short of its real
    // due time, so the bug saw nothing to bring forward and the launch waited for the later time.
    const earlier = new Date(later.getTime() - 1_000);
    await reschedule(earlier);
    expect(near(await dueAt(), earlier)).toBe(true);
  });
});
