import type { Page } from 'playwright-core';
import { createContact, type ShopFixture } from '../factories';
import { seedFlowHistory } from '../flow-history';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// A flow's Performance card (FlowStatsCard) in a real (headless) Chromium
// against the real api: the attributed revenue is the api's decimal text per
// currency, shown exactly as the campaign pages show it. Read through a JS
// number, 90071992547409.93 USD (past 2^53 minor units) showed as
// $90,071,992,547,409.94: a cent never earned.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;
let flowId: string;

beforeAll(async () => {
  admin = await startAdminPage(async (e, s) => {
    for (let i = 0; i < 3; i++) await createContact(e.db, s.id);
  });
  ({ env, base, page, shop } = admin);
  ({ flowId } = await seedFlowHistory(env.db, shop.id, { runs: 3, attributionEvery: 1, clickEvery: 1 }));
  // Three attributed orders: by view in USD (2^53 minor units), by click in JPY and in USD.
  const rows = await env.db.$queryRaw<{ order_id: string }[]>`SELECT order_id FROM order_attributions WHERE flow_id = ${flowId}::uuid ORDER BY order_id`;
  expect(rows).toHaveLength(3);
  const set = [
    { kind: 'view', currency: 'USD', minor: 9_007_199_254_740_992n },
    { kind: 'click', currency: 'JPY', minor: 1_500n },
    { kind: 'click', currency: 'USD', minor: 1n },
  ];
  for (const [i, r] of rows.entries()) {
    const v = set[i]!;
    // An order by click names the click (the seed gave every message one).
    await env.db.$executeRaw`
      UPDATE order_attributions a
         SET kind = ${v.kind}, currency = ${v.currency}, total_minor = ${v.minor},
             click_id = CASE WHEN ${v.kind} = 'click' THEN (SELECT k.id FROM link_clicks k WHERE k.flow_message_id = a.flow_message_id LIMIT 1) END
       WHERE a.flow_id = ${flowId}::uuid AND a.order_id = ${r.order_id}`;
  }
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

it('shows the attributed revenue per currency exactly, as decimal text, not through a float', async () => {
  await page.goto(`${base}/app/flows/${flowId}?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  const revenue = page.getByTestId('flow-revenue');
  await revenue.waitFor();
  expect(await revenue.innerText()).toBe('¥1,500 + $90,071,992,547,409.93');
  await page.getByText('¥1,500 + $0.01 after a click').waitFor();
  expect(await seriousViolations(page)).toEqual([]);
}, 90_000);
