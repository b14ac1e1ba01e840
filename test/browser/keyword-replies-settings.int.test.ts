import type { Page } from 'playwright-core';
import { DEFAULT_KEYWORD_REPLIES } from '../../domain/compliance/keyword-reply-texts';
import type { ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// Settings → Keyword replies in a real (headless) Chromium against the real
// api: the texts in force, a carrier requirement missing shown on its field,
// a custom text saved, and the default restored.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;

beforeAll(async () => {
  admin = await startAdminPage(async (e, s) => {
    await e.db.$executeRaw`UPDATE shops SET keyword_replies_sent = 4, keyword_reply_segments = 5 WHERE id = ${s.id}::uuid`;
  });
  ({ env, base, page, shop } = admin);
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

const stored = async () =>
  (await env.db.$queryRaw<{ help: string | null }[]>`SELECT keyword_reply_help AS help FROM shops WHERE id = ${shop.id}::uuid`)[0]!.help;

it('a merchant words the HELP reply: a missing requirement is named on the field, a good text is saved, the default comes back', async () => {
  await page.goto(`${base}/app/settings?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  const help = page.getByLabel('HELP reply');
  await help.waitFor();
  expect(await help.inputValue()).toBe(DEFAULT_KEYWORD_REPLIES.HELP);
  expect(await page.getByLabel('STOP reply').inputValue()).toBe(DEFAULT_KEYWORD_REPLIES.STOP);
  await page.getByText('4 replies sent (5 segments), never charged to your credits.').waitFor();

  await help.fill('{{shopName}}: questions? Write to help@acme.example');
  await page.getByRole('button', { name: 'Save replies' }).click();
  await page.getByText('must say how to opt out: "Reply STOP to unsubscribe"').waitFor();
  expect(await stored()).toBeNull();
  expect(await seriousViolations(page)).toEqual([]);

  const text = '{{shopName}}: questions? Write to help@acme.example. Msg & data rates may apply. Reply STOP to unsubscribe.';
  await help.fill(text);
  await page.getByRole('button', { name: 'Save replies' }).click();
  await page.getByRole('button', { name: 'Restore the default HELP reply' }).waitFor();
  expect(await stored()).toBe(text);

  await page.getByRole('button', { name: 'Restore the default HELP reply' }).click();
  await page.getByRole('button', { name: 'Restore the default HELP reply' }).waitFor({ state: 'detached' });
  expect(await stored()).toBeNull();
  // The field shows the restored text once the settings are read back, a moment after the button goes.
  for (let i = 0; i < 100 && (await help.inputValue()) !== DEFAULT_KEYWORD_REPLIES.HELP; i++) await page.waitForTimeout(100);
  expect(await help.inputValue()).toBe(DEFAULT_KEYWORD_REPLIES.HELP);
}, 60_000);
