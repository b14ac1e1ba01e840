import request from 'supertest';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { createCampaign, createContact, createShop } from '../../../test/factories';
import { reserveCredits } from '../../../domain/credits/reservations';

// The gauges read at scrape time move with the state they describe.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function scrape(): Promise<string> {
  const { app } = await env.api();
  return (await request(app).get('/metrics')).text;
}

it('queue_jobs counts waiting and delayed jobs per queue', async () => {
  const { deps } = await env.api();
  expect(sample(await scrape(), 'queue_jobs{queue="maintenance",state="waiting"}')).toBe(0);
  await deps.producer.add('idempotency.cleanup.v1', { traceId: 't' }, { jobId: 'gauge-1' });
  await deps.producer.add('idempotency.cleanup.v1', { traceId: 't' }, { jobId: 'gauge-2', delay: 60_000 });
  const text = await scrape();
  expect(sample(text, 'queue_jobs{queue="maintenance",state="waiting"}')).toBe(1);
  expect(sample(text, 'queue_jobs{queue="maintenance",state="delayed"}')).toBe(1);
});

it('outbox_pending counts unpublished outbox events', async () => {
  const before = sample(await scrape(), 'outbox_pending');
  await env.db.$executeRaw`INSERT INTO outbox_events (event_type, aggregate_id, payload) VALUES ('campaign.completed.v1', 'g', '{}'::jsonb)`;
  expect(sample(await scrape(), 'outbox_pending')).toBe(before + 1);
});

it('credit_reservations_active counts active reservations', async () => {
  const shop = await createShop(env.db, { credits: 10 });
  const c = await createCampaign(env.db, shop.id);
  const before = sample(await scrape(), 'credit_reservations_active');
  await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: c.id, reservationKey: 'gauge', amount: 5 }));
  expect(sample(await scrape(), 'credit_reservations_active')).toBe(before + 1);
});

it('campaigns_stuck counts active campaigns quiet for longer than STUCK_AFTER_MS', async () => {
  const shop = await createShop(env.db);
  const c = await createCampaign(env.db, shop.id, { status: 'sending' });
  const before = sample(await scrape(), 'campaigns_stuck');
  await env.db.$executeRaw`UPDATE campaigns SET last_activity_at = now() - ${`${env.config.STUCK_AFTER_MS + 60_000} milliseconds`}::interval WHERE id = ${c.id}::uuid`;
  expect(sample(await scrape(), 'campaigns_stuck')).toBe(before + 1);
});

it('flow_due_runs and flow_due_runs_oldest_age_seconds count the due runs of live flows', async () => {
  const shop = await createShop(env.db);
  const contact = await createContact(env.db, shop.id);
  const [flow] = await env.db.$queryRaw<{ id: string }[]>`INSERT INTO flows (shop_id, name, trigger_type) VALUES (${shop.id}::uuid, 'Gauge', 'order_created') RETURNING id`;
  const [version] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${flow!.id}::uuid, ${shop.id}::uuid, 1, '[{"type":"send","body":"Hi"}]'::jsonb) RETURNING id`;
  await env.db.$executeRaw`UPDATE flows SET current_version_id = ${version!.id}::uuid, status = 'live' WHERE id = ${flow!.id}::uuid`;
  const before = sample(await scrape(), 'flow_due_runs');
  await env.db.$executeRaw`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, next_due_at)
    VALUES (${flow!.id}::uuid, ${version!.id}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'order_created', 'gauge', now(), now() - interval '2 hours')`;
  const text = await scrape();
  expect(sample(text, 'flow_due_runs')).toBe(before + 1);
  expect(sample(text, 'flow_due_runs_oldest_age_seconds')).toBeGreaterThanOrEqual(7_200);
});
