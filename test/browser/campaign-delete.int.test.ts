import type { Page } from 'playwright-core';
import { createCampaign, type ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// The campaigns list's Delete action, in a real (headless) Chromium against
// the real api: offered on drafts only, confirmed in a modal, and the draft
// is gone from the list and the database.

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

const exists = async (id: string) => (await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM campaigns WHERE id = ${id}::uuid`)[0]!.n === 1;

it('a draft is deleted from the campaigns list after a confirmation; a sent campaign offers no Delete', async () => {
  const draft = await createCampaign(env.db, shop.id, { name: 'Old draft', status: 'draft' });
  const kept = await createCampaign(env.db, shop.id, { name: 'Keep me', status: 'draft' });
  const sending = await createCampaign(env.db, shop.id, { name: 'Spring sale', status: 'sending' });
  const deletes: string[] = [];
  page.on('request', (r) => {
    if (r.method() === 'DELETE') deletes.push(`${new URL(r.url()).pathname} ${r.headers()['idempotency-key'] ? 'keyed' : 'unkeyed'}`);
  });

  await page.goto(`${base}/app/campaigns?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Delete draft Old draft' }).waitFor();
  expect(await page.getByRole('button', { name: 'Delete draft Spring sale' }).count()).toBe(0);

  // Keeping it changes nothing.
  await page.getByRole('button', { name: 'Delete draft Old draft' }).click();
  await page.getByRole('dialog').getByText('“Old draft” will be deleted. This cannot be undone.').waitFor();
  await page.getByRole('button', { name: 'Keep draft' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  expect(await exists(draft.id)).toBe(true);

  await page.getByRole('button', { name: 'Delete draft Old draft' }).click();
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByRole('dialog').getByRole('button', { name: 'Delete draft' }).click();
  await page.getByRole('button', { name: 'Delete draft Old draft' }).waitFor({ state: 'detached' });
  // Still on the list page (the row's own click opens the draft; the button must not).
  expect(new URL(page.url()).pathname).toBe('/app/campaigns');
  expect(await exists(draft.id)).toBe(false);
  expect(await exists(kept.id)).toBe(true);
  expect(await exists(sending.id)).toBe(true);
  expect(deletes).toEqual([`/api/campaigns/${draft.id} keyed`]);
}, 60_000);

it('a draft scheduled from another tab before the delete is kept, and the banner says it is scheduled, not sent', async () => {
  const draft = await createCampaign(env.db, shop.id, { name: 'Friday promo', status: 'draft' });
  await page.goto(`${base}/app/campaigns?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByRole('button', { name: 'Delete draft Friday promo' }).click();
  await page.getByRole('dialog').getByText('“Friday promo” will be deleted. This cannot be undone.').waitFor();
  // Meanwhile another tab scheduled it: the delete is 409 INVALID_STATE with details.status "scheduled".
  await env.db.$executeRaw`UPDATE campaigns SET status = 'scheduled', scheduled_at = now() + interval '1 day' WHERE id = ${draft.id}::uuid`;
  await page.getByRole('dialog').getByRole('button', { name: 'Delete draft' }).click();
  await page.getByText('This campaign is scheduled', { exact: true }).waitFor();
  await page.getByText('It is sent at its scheduled time; edit, reschedule or cancel it on its page.').waitFor();
  expect(await page.getByText('This campaign is already sending').count()).toBe(0);
  expect(await exists(draft.id)).toBe(true);
}, 60_000);
