import type { Page } from 'playwright-core';
import type { ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// Settings → Smart sending in a real (headless) Chromium against the real
// api: the shop's window shown, an out-of-range window refused on its field,
// a new window and the switch persisted.

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

const stored = async () =>
  (
    await env.db.$queryRaw<{ enabled: boolean; hours: number }[]>`
      SELECT smart_sending_enabled AS enabled, smart_sending_window_hours AS hours FROM shops WHERE id = ${shop.id}::uuid`
  )[0]!;

it('a merchant changes the smart sending window: out of range is refused on the field, a good value and the switch are saved', async () => {
  await page.goto(`${base}/app/settings?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  const hours = page.getByLabel('Window (hours)');
  await hours.waitFor();
  expect(await hours.inputValue()).toBe('16');
  await page.getByText('US and Canadian numbers are never texted before 08:00 or after 21:00 local time', { exact: false }).waitFor();

  await hours.fill('200');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('input[aria-invalid="true"]').waitFor();
  expect(await hours.getAttribute('aria-invalid')).toBe('true');
  expect((await stored()).hours).toBe(16);
  expect(await seriousViolations(page)).toEqual([]);

  await hours.fill('24');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Settings saved').first().waitFor();
  expect(await stored()).toEqual({ enabled: true, hours: 24 });

  await page.getByLabel("Don't text a contact who got a marketing message recently").uncheck();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Settings saved').first().waitFor();
  expect((await stored()).enabled).toBe(false);
  await page.reload();
  await hours.waitFor();
  expect(await hours.inputValue()).toBe('24');
  expect(await page.getByLabel("Don't text a contact who got a marketing message recently").isChecked()).toBe(false);
}, 90_000);

const ignoring = async () =>
  (
    await env.db.$queryRaw<{ ignore: boolean }[]>`
      SELECT ignore_smart_sending AS ignore FROM campaigns WHERE shop_id = ${shop.id}::uuid AND name = 'Restock'`
  ).map((r) => r.ignore);

it('the composer saves "ignore smart sending" on the draft and shows it again on reload', async () => {
  await page.goto(`${base}/app/campaigns/new?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByLabel('Campaign name').fill('Restock');
  await page.getByRole('textbox', { name: 'Message' }).fill('Back in stock today.');
  const ignore = page.getByLabel('Send even to contacts texted recently (ignore smart sending)');
  await ignore.check();
  for (let i = 0; i < 100 && (await ignoring())[0] !== true; i++) await page.waitForTimeout(100);
  expect(await ignoring()).toEqual([true]);
  expect(await seriousViolations(page)).toEqual([]);
  await page.reload();
  await page.getByLabel('Campaign name').waitFor();
  expect(await page.getByLabel('Send even to contacts texted recently (ignore smart sending)').isChecked()).toBe(true);
}, 90_000);
