import type { Page } from 'playwright-core';
import { createContact, type ShopFixture } from '../factories';
import { seedFlowHistory } from '../flow-history';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// A post-purchase flow's Performance card (FlowStatsCard) in a real (headless)
// Chromium against the real api: runs that ended because their order was
// cancelled or refunded in full (order_cancelled, order_refunded) are listed
// among the exits in words, next to the other reasons.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;
let flowId: string;

beforeAll(async () => {
  admin = await startAdminPage(async (e, s) => {
    for (let i = 0; i < 5; i++) await createContact(e.db, s.id);
  });
  ({ env, base, page, shop } = admin);
  ({ flowId } = await seedFlowHistory(env.db, shop.id, { runs: 5 }));
  const runs = await env.db.$queryRaw<{ id: string }[]>`SELECT id::text FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY id`;
  const reasons = ['order_cancelled', 'order_cancelled', 'order_refunded', 'order_placed'];
  for (const [i, reason] of reasons.entries()) {
    await env.db.$executeRaw`UPDATE flow_runs SET status = 'exited', exit_reason = ${reason} WHERE id = ${runs[i]!.id}::bigint`;
  }
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

it('lists the runs ended by a cancelled or fully refunded order among the exits, in words', async () => {
  await page.goto(`${base}/app/flows/${flowId}?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  const exits = page.getByText(/order refunded in full/);
  await exits.waitFor();
  // The reasons in the api's order, each once.
  expect((await exits.innerText()).split(', ').sort()).toEqual(['1 order refunded in full', '1 ordered', '2 order cancelled']);
  expect(await seriousViolations(page)).toEqual([]);
}, 90_000);

it('names every reason a text was skipped in words, quiet hours and a message too long included', async () => {
  const messages = await env.db.$queryRaw<{ id: string }[]>`SELECT id::text FROM flow_messages WHERE flow_id = ${flowId}::uuid ORDER BY id`;
  for (const [i, reason] of ['quiet_hours', 'too_long'].entries()) {
    await env.db.$executeRaw`
      UPDATE flow_messages SET status = 'skipped', skip_reason = ${reason}, provider_message_id = NULL, sent_at = NULL, delivered_at = NULL, final_at = now(), credits = 0
       WHERE id = ${messages[i]!.id}::bigint`;
  }
  await page.goto(`${base}/app/flows/${flowId}?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  const skipped = page.getByText(/never out of quiet hours/);
  await skipped.waitFor();
  expect((await skipped.innerText()).split(', ').sort()).toEqual(['1 never out of quiet hours', '1 too long to send']);
  expect(await seriousViolations(page)).toEqual([]);
}, 90_000);
