import type { Page } from 'playwright-core';
import type { ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { screenshot, seriousViolations } from './browser';

// Settings → Quiet hours in a real (headless) Chromium against the real api:
// quiet hours that, with the US/CA 21:00–08:00 floor, cover the whole day are
// saved (a shop with no US customers may want them) but a warning says US
// and Canadian numbers will never be texted; it goes once time is left open.
// The warning follows the fields as they are edited, before any save: the
// api's verdict (POST /api/shop/quiet-hours/preview, the rule GET and PATCH
// answer with), never a copy of the rule in the page.

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

const TITLE = 'US and Canadian customers can never be texted with these quiet hours';

const stored = async () =>
  (
    await env.db.$queryRaw<{ start: string; end: string }[]>`
      SELECT quiet_hours_start AS start, quiet_hours_end AS "end" FROM shops WHERE id = ${shop.id}::uuid`
  )[0]!;

const save = async () => {
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Settings saved').first().waitFor();
};

it('quiet hours 07:00–22:00 are saved with a warning that US/CA numbers are never texted; the warning goes when time is left open', async () => {
  await page.goto(`${base}/app/settings?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  const from = page.getByLabel('Quiet from');
  const until = page.getByLabel('Quiet until');
  await from.waitFor();
  expect(await page.getByText(TITLE).count()).toBe(0);

  await from.fill('07:00');
  await until.fill('22:00');
  await save();
  expect(await stored()).toEqual({ start: '07:00', end: '22:00' });
  const warning = page.getByText(TITLE);
  await warning.waitFor();
  await page.getByText('US and Canadian numbers are never texted, and every campaign or flow message to them is skipped', { exact: false }).waitFor();
  expect(await seriousViolations(page)).toEqual([]);

  // Still there on the next visit: it belongs to the saved setting.
  await page.reload();
  await warning.waitFor();

  // Editing the window to one that leaves time hides the warning at once, unsaved; saving it keeps it gone.
  await until.fill('20:00');
  await warning.waitFor({ state: 'detached' });
  await save();
  expect(await stored()).toEqual({ start: '07:00', end: '20:00' });
  await page.reload();
  await from.waitFor();
  expect(await until.inputValue()).toBe('20:00');
  expect(await page.getByText(TITLE).count()).toBe(0);
}, 90_000);

it('the warning shows while quiet hours are edited to a window with no US/CA sending time, before saving, and goes when they are fixed', async () => {
  const open = async () => {
    await page.goto(`${base}/app/settings?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
    await page.getByLabel('Quiet from').waitFor();
  };
  await open();
  const from = page.getByLabel('Quiet from');
  const until = page.getByLabel('Quiet until');
  const savedBefore = await stored();
  expect(savedBefore).toEqual({ start: '07:00', end: '20:00' });
  expect(await page.getByText(TITLE).count()).toBe(0);

  // Not saved: the page asks the api about the hours in the form.
  await until.fill('22:00');
  const warning = page.getByText(TITLE);
  await warning.waitFor();
  // The api's wording, naming the hours being edited.
  await page.getByText('Quiet hours 07:00–22:00 together with the legal window for US and Canadian numbers', { exact: false }).waitFor();
  expect(await stored()).toEqual(savedBefore);
  expect(await seriousViolations(page)).toEqual([]);
  await until.blur();
  await screenshot(page, 'settings-quiet-hours-warning');

  // Another window with no time left (the floor's exact complement): the warning stays and names it.
  await from.fill('08:00');
  await until.fill('21:00');
  await page.getByText('Quiet hours 08:00–21:00 together with the legal window', { exact: false }).waitFor();

  // Fixed, still unsaved: a minute left open is a sending time, and the warning goes.
  await until.fill('20:59');
  await warning.waitFor({ state: 'detached' });
  expect(await stored()).toEqual(savedBefore);

  // Back to a window already answered: the warning returns without saving.
  await until.fill('21:00');
  await warning.waitFor();

  // Discard puts the saved (warning-free) hours back.
  await page.getByRole('button', { name: 'Discard', exact: true }).click();
  await warning.waitFor({ state: 'detached' });
  expect(await until.inputValue()).toBe('20:00');
  expect(await stored()).toEqual(savedBefore);
}, 90_000);
