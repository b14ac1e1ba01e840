import type { Page } from 'playwright-core';
import type { ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';

// The contacts page's import card, in a real (headless) Chromium against the
// real api and import worker: a rejected row is named by the line it starts
// on in the merchant's file, in the table and in the downloaded rejections,
// also when blank lines (spreadsheet exports have them) or a quoted field
// spanning lines come before it. The row's index + 2 would point elsewhere.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;

beforeAll(async () => {
  admin = await startAdminPage();
  ({ env, base, page, shop } = admin);
  await env.worker({ queues: ['imports'] });
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

it('a rejected row is shown and downloaded with the line it has in the file', async () => {
  const csv = [
    'phone,first_name,note', // line 1
    '+12015550131,Grace,', // line 2
    '', // line 3
    '+12015550132,Alan,"met at the fair,', // line 4
    'call after 5"', // line 5 (the same row)
    '', // line 6
    'not-a-phone,Bad,', // line 7: rejected, the 3rd row sent (row 2)
    '+12015550133,Ada,', // line 8
  ].join('\r\n');
  await page.goto(`${base}/app/contacts?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByRole('heading', { name: 'Contacts', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Import CSV' }).click();
  await page.locator('input[type="file"]').setInputFiles({ name: 'customers.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Import 4 contacts' }).click();
  await page.getByTestId('import-summary').waitFor({ timeout: 20_000 });
  expect(await page.getByTestId('import-summary').textContent()).toBe('3 added, 0 updated, 1 rejected');

  const rejected = page.locator('table').filter({ hasText: 'Reason' }).locator('tbody tr');
  await rejected.first().waitFor();
  expect(await rejected.count()).toBe(1);
  expect((await rejected.first().locator('td').first().textContent())?.trim()).toBe('7');

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download rejections' }).click();
  const chunks: Buffer[] = [];
  for await (const c of await (await download).createReadStream()) chunks.push(c as Buffer);
  const lines = Buffer.concat(chunks).toString('utf8').split('\r\n');
  expect(lines[0]).toBe('line,row,code,message');
  expect(lines[1]).toMatch(/^7,2,INVALID_PHONE,/);
}, 60_000);
