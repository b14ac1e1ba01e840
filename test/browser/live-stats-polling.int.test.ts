import type { Page } from 'playwright-core';
import type { ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { screenshot } from './browser';

// A sending campaign's page keeps its live stats moving through a failed
// poll (apps/admin/src/hooks.ts `useApi`): the error shows while it lasts,
// polling goes on (with a longer wait), and the next answer brings the new
// figures and takes the error away. Before, one failed poll stopped polling
// until the page was reloaded.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;

beforeAll(async () => {
  admin = await startAdminPage();
  ({ env, base, page, shop } = admin);
  page.on('pageerror', (err) => process.stdout.write(`page error: ${err.message}\n${err.stack ?? ''}\n`));
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

const until = async (check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await check()) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
};

async function sent(campaignId: string, n: number): Promise<void> {
  await env.db.$executeRaw`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
    SELECT ${campaignId}::uuid, gen_random_uuid(), 0, 'sent', 'pm-' || gen_random_uuid(), 1, now()
      FROM generate_series(1, ${n}::int)`;
}

it('a stats poll that fails (503 until the client gives up) shows the error, and the next poll updates the figures and clears it', async () => {
  const [c] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO campaigns (shop_id, name, body, status, started_at)
    VALUES (${shop.id}::uuid, 'Live', 'Hello', 'sending', now()) RETURNING id`;
  const campaignId = c!.id;
  await sent(campaignId, 4);

  let failing = false;
  let failed = 0;
  await page.route(`**/api/campaigns/${campaignId}/stats`, async (route) => {
    if (!failing) return route.continue();
    failed++;
    await route.fulfill({ status: 503, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' }, body: JSON.stringify({ error: { code: 'OVERLOADED', message: 'Busy', requestId: 'r-poll-503' } }) });
  });

  await page.goto(`${base}/app/campaigns/${campaignId}?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  const sentFigure = page.getByTestId('stat-sent');
  await until(async () => (await sentFigure.innerText()) === '4', 'the first stats');

  // Every attempt answered 503: the client's own retries run out and the poll fails.
  failing = true;
  await page.getByText('Busy', { exact: true }).waitFor();
  expect(failed).toBeGreaterThanOrEqual(4);
  expect(await sentFigure.innerText()).toBe('4');

  // Meanwhile the campaign moves on; the api answers again.
  await sent(campaignId, 3);
  failing = false;
  await until(async () => (await sentFigure.innerText()) === '7', 'the stats after the failed poll');
  await page.getByText('Busy', { exact: true }).waitFor({ state: 'detached' });
  expect(await page.getByText('Something went wrong').count()).toBe(0);
  await page.unroute(`**/api/campaigns/${campaignId}/stats`);
}, 90_000);

it('a sending campaign whose recipients wait for their quiet hours says so, and until when, instead of sitting at 0 % without a word', async () => {
  const [c] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO campaigns (shop_id, name, body, status, started_at)
    VALUES (${shop.id}::uuid, 'Morning', 'Hello', 'sending', now()) RETURNING id`;
  const campaignId = c!.id;
  const until = new Date(Date.now() + 3 * 3_600_000);
  // One batch deferred by the claim (not_before), its three recipients still pending.
  await env.db.$executeRaw`
    INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status, not_before, deferred)
    VALUES (${campaignId}::uuid, 0, 3, 'pending', ${until}, 3)`;
  await env.db.$executeRaw`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status)
    SELECT ${campaignId}::uuid, gen_random_uuid(), 0, 'pending' FROM generate_series(1, 3)`;

  await page.goto(`${base}/app/campaigns/${campaignId}?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByText('3 recipients are waiting for their quiet hours to end').waitFor();
  const note = await page.getByTestId('deferred-note').innerText();
  const shown = until.toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' });
  expect(note).toContain(`Sending resumes ${shown}.`);
  await screenshot(page, 'campaign-detail-deferred');

  // Once the batch is taken (claimed) nobody waits any more: the note goes.
  await env.db.$executeRaw`UPDATE campaign_batches SET not_before = NULL, deferred = 0 WHERE campaign_id = ${campaignId}::uuid`;
  await page.getByTestId('deferred-note').waitFor({ state: 'detached' });
}, 60_000);
