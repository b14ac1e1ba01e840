import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { ensureAdminBuilt } from '../admin-build';
import { createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { adminContext, launchChromium } from './browser';

export interface AdminPage {
  env: TestEnv;
  base: string;
  page: Page;
  shop: ShopFixture;
  close(): Promise<void>;
}

/**
 * The set-up the single-page browser tests share: a real api on a free port,
 * a fresh shop (prepared by `prepare` before the browser opens) and one
 * headless Chromium page in the admin's context. `vars` are passed to the
 * api's configuration (e.g. STRIPE_API_BASE for a fake Stripe).
 */
export async function startAdminPage(prepare?: (env: TestEnv, shop: ShopFixture) => Promise<void>, vars: Record<string, string> = {}): Promise<AdminPage> {
  ensureAdminBuilt();
  const env = await createTestEnv(vars);
  let server: Server | undefined;
  let browser: Browser | undefined;
  const close = async (): Promise<void> => {
    await browser?.close();
    if (server) await new Promise((r) => server!.close(r));
    await env.close();
  };
  try {
    const { app } = await env.api();
    server = createServer(app);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const shop = await createShop(env.db);
    await prepare?.(env, shop);
    browser = await launchChromium();
    const page = await (await adminContext(browser, shop.domain)).newPage();
    page.setDefaultTimeout(20_000);
    return { env, base, page, shop, close };
  } catch (err) {
    await close();
    throw err;
  }
}
