import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { ensureAdminBuilt } from '../admin-build';
import { createCampaign, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { adminContext, launchChromium, seriousViolations } from './browser';

// The campaigns list's Delete action, in a real (headless) Chromium against
// the real api: offered on drafts only, confirmed in a modal, and the draft
// is gone from the list and the database.

let env: TestEnv;
let server: Server;
let base: string;
let browser: Browser;
let page: Page;
let shop: ShopFixture;

beforeAll(async () => {
  ensureAdminBuilt();
  env = await createTestEnv();
  const { app } = await env.api();
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  shop = await createShop(env.db);
  browser = await launchChromium();
  page = await (await adminContext(browser, shop.domain)).newPage();
  page.setDefaultTimeout(20_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
  await env?.close();
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
