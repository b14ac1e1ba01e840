import type { Page } from 'playwright-core';
import type { ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// A campaign's page accounts for every recipient the stats count: a
// cancelled campaign's unsent recipients (`cancelled`) were in no figure but
// the total, and skipped ones were not told apart (smart sending, quiet hours
// that never opened, the rest), though GET /stats gives each.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;

beforeAll(async () => {
  admin = await startAdminPage();
  ({ env, base, page, shop } = admin);
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

async function recipients(campaignId: string, status: string, n: number, errorCode: string | null = null): Promise<void> {
  await env.db.$executeRaw`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, error_code, final_at, provider_message_id, segments, sent_at)
    SELECT ${campaignId}::uuid, gen_random_uuid(), 0, ${status}, ${errorCode}, now(),
           CASE WHEN ${status} = 'delivered' THEN 'pm-' || gen_random_uuid() END, CASE WHEN ${status} = 'delivered' THEN 1 END,
           CASE WHEN ${status} = 'delivered' THEN now() END
      FROM generate_series(1, ${n}::int)`;
}

it('a cancelled campaign shows its cancelled recipients, and why recipients were skipped', async () => {
  const [c] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO campaigns (shop_id, name, body, status, started_at, cancelled_at)
    VALUES (${shop.id}::uuid, 'Stopped sale', 'Hello', 'cancelled', now(), now()) RETURNING id`;
  const id = c!.id;
  await recipients(id, 'delivered', 2);
  await recipients(id, 'cancelled', 5);
  await recipients(id, 'skipped', 3, 'frequency_cap');
  await recipients(id, 'skipped', 1, 'quiet_hours');
  await recipients(id, 'skipped', 2, 'opted_out');

  await page.goto(`${base}/app/campaigns/${id}?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByTestId('stat-total').filter({ hasText: '13' }).waitFor();
  expect(await page.getByTestId('stat-skipped').textContent()).toBe('6');
  expect(await page.getByTestId('stat-cancelled').textContent()).toBe('5');
  expect(await page.getByTestId('skipped-reasons').textContent()).toBe(
    'Skipped, never charged: 3 texted recently (smart sending) · 1 whose quiet hours never opened · 2 opted out or not sendable.',
  );
  expect(await seriousViolations(page)).toEqual([]);
}, 60_000);
