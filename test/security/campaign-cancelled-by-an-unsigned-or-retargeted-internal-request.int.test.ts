import type { Express } from 'express';
import request from 'supertest';
import { createContactsBulk, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { resend, startOpsCapture, type CapturedRequest, type OpsCapture } from '../ops-capture';
import { campaignStatus, moneyState, queuedCampaign } from '../sending';

// Attack: POST /internal/campaigns/:id/cancel stops a campaign of any shop
// with no session, so whoever reaches the api could stop every shop's
// campaigns: send it unsigned; or capture one signed cancel of the on-call
// CLI (a proxy log, a shared terminal recording) and point it at another
// shop's campaign, change its reason, or send it again. Closed: the route is
// behind the same signed-request check as every /internal route (the
// signature covers method, path and body; each nonce is spent once), so each
// is 401 INVALID_SIGNATURE and the other campaign keeps sending, its credits
// still reserved.

let env: TestEnv;
let app: Express;
let ops: OpsCapture;

beforeAll(async () => {
  env = await createTestEnv();
  ({ app } = await env.api());
  ops = await startOpsCapture(env, { outcome: 'cancelled', status: 'cancelled', released: 0, kept: 0 });
});
afterAll(async () => {
  await ops.close();
  await env.close();
});

const captureCancel = (campaignId: string): Promise<CapturedRequest> => ops.capture(['campaign:cancel', campaignId, '--reason', 'runaway'], { operator: 'alice' });
const send = (c: CapturedRequest, url = c.url, body = c.body): request.Test => resend(app, c, url, body);

/** A campaign of its own shop, queued with credits reserved for its 3 recipients. */
async function victim(): Promise<{ shopId: string; id: string; reserved: number }> {
  const shop = await createShop(env.db, { credits: 100 });
  await createContactsBulk(env.db, shop.id, 3);
  const c = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2 });
  return { shopId: shop.id, id: c.id, reserved: c.reserved };
}

async function expectUntouched(v: { shopId: string; id: string; reserved: number }): Promise<void> {
  expect(await campaignStatus(env.db, v.id)).toBe('queued');
  expect(await moneyState(env.db, v.shopId)).toMatchObject({ reserved: v.reserved, activeRemaining: v.reserved });
}

it('an unsigned cancel of any shop\'s campaign is 401 INVALID_SIGNATURE and stops nothing', async () => {
  const v = await victim();
  const res = await request(app).post(`/internal/campaigns/${v.id}/cancel`).set('Content-Type', 'application/json').send(JSON.stringify({ reason: 'x' }));
  expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  await expectUntouched(v);
});

it('a captured cancel pointed at another shop\'s campaign, or with its reason changed, is 401 and stops nothing; it runs once, and its replay is 401', async () => {
  const mine = await victim();
  const other = await victim();
  const c = await captureCancel(mine.id);
  expect(c.url).toBe(`/internal/campaigns/${mine.id}/cancel`);

  const retargeted = await send(c, `/internal/campaigns/${other.id}/cancel`);
  expect({ status: retargeted.status, code: retargeted.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  const reworded = await send(c, c.url, JSON.stringify({ reason: 'the merchant asked', operator: 'alice' }));
  expect({ status: reworded.status, code: reworded.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  await expectUntouched(other);
  await expectUntouched(mine);

  // Refused tampering did not spend the nonce: the request as signed still runs, once.
  const first = await send(c);
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ id: mine.id, outcome: 'cancelled' });
  const replay = await send(c);
  expect({ status: replay.status, code: replay.body.error?.code }).toEqual({ status: 401, code: 'INVALID_SIGNATURE' });
  await expectUntouched(other);
});
