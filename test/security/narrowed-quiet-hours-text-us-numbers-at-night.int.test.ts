import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import type { MittoProvider } from '../../domain/messaging/providers';
import { jobIds } from '../../queue/job-ids';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { campaignStatus, recipientCounts, simulatorProvider, startSimulator, waitFor } from '../sending';

// The attack (a merchant's, or a compromised admin session's): shrink the
// shop's quiet hours to a few minutes through the API, then send a campaign
// at 23:00 New York time, texting American customers in the middle of their
// night — the TCPA complaint and the carrier block the issue is about. The
// settings API accepts a narrow window (it is the shop's for every other
// country), so the floor is enforced where messages go out: the batch claim
// holds US numbers until 08:00 their time, whatever the shop's setting.

describe('attack: a narrowed quiet-hours window texts US numbers at night', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;
  let p: MittoProvider;
  // 2026-12-05T04:00Z is 23:00 in New York (EST), 04:00 in London.
  let clock = new Date('2026-12-05T04:00:00Z');

  beforeAll(async () => {
    let url: string;
    ({ sim, url } = await startSimulator());
    p = simulatorProvider(url);
    // The floor as production runs it (tests not about quiet hours turn it off).
    env = await createTestEnv({ SMS_QUIET_HOURS_FLOOR: 'true' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
    p.close();
    await sim.stop();
  });

  it('the API takes the narrow window, and the send path still holds the US number until 08:00 New York time', async () => {
    const shop = await createShop(env.db, { credits: 100, timezone: 'America/New_York' });
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const narrowed = await request(app).patch('/api/shop').set('Authorization', auth).send({ quietHours: { start: '03:00', end: '03:05' } });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body).toMatchObject({ quietHours: { start: '03:00', end: '03:05' }, legalQuietHours: { start: '21:00', end: '08:00', appliesTo: ['US', 'CA'] } });
    await createContact(env.db, shop.id, { phone: '+12125550100' });
    await createContact(env.db, shop.id, { phone: '+447911123456' });

    const created = await request(app).post('/api/campaigns').set('Authorization', auth).set('Idempotency-Key', randomUUID()).send({ name: 'Midnight sale', body: 'Hi {{firstName|there}}!' });
    expect(created.status).toBe(201);
    const { deps } = await env.worker({ queues: ['campaigns', 'sends'], overrides: { provider: p, now: () => clock } });
    const enqueued = await request(app).post(`/api/campaigns/${created.body.id}/enqueue`).set('Authorization', auth).set('Idempotency-Key', randomUUID()).send({});
    expect(enqueued.status).toBe(202);

    const sends = deps.queues.get('sends');
    const batchId = jobIds.sendBatch(created.body.id, 0);
    await waitFor('the batch to wait', async () => (await (await sends.getJob(batchId))?.getState()) === 'delayed');
    // London (04:00, outside the narrowed window) was texted; New York was not.
    expect(await recipientCounts(env.db, created.body.id)).toEqual({ sent: 1, pending: 1 });
    expect(sim.stats().messagesAccepted).toBe(1);
    const [ny] = await env.db.$queryRaw<{ status: string }[]>`
      SELECT r.status FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id
       WHERE r.campaign_id = ${created.body.id}::uuid AND c.phone_e164 = '+12125550100'`;
    expect(ny?.status).toBe('pending');
    // Delayed to 08:00 EST = 13:00Z, nine hours on.
    expect(Math.abs(((await sends.getJob(batchId))?.delay ?? 0) - 9 * 3_600_000)).toBeLessThan(60_000);

    // At 08:00 New York time it goes out, and the campaign completes.
    clock = new Date('2026-12-05T13:00:00Z');
    await (await sends.getJob(batchId))!.promote();
    await waitFor('campaign completed', async () => (await campaignStatus(env.db, created.body.id)) === 'completed');
    expect(await recipientCounts(env.db, created.body.id)).toEqual({ sent: 2 });
  });
});
