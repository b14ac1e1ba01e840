import type { Express } from 'express';
import type { Page } from 'playwright-core';
import type { ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { waitFor } from '../sending';
import { disputeObject, postStripe, rid, sessionObject, stripeEvent } from '../webhooks';
import { startAdminPage, type AdminPage } from './admin-page';
import { screenshot, seriousViolations } from './browser';

// Billing as Stripe leaves the merchant on it: back from a paid checkout
// (`?checkout=success`) the page says the purchase is being confirmed (the
// credits come with the webhook, not with the redirect) and shows them once
// the webhook granted them, without a reload; back from a cancelled one it
// says nothing was bought. Credits held for a disputed payment are shown.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;
let app: Express;

beforeAll(async () => {
  admin = await startAdminPage();
  ({ env, base, page, shop } = admin);
  ({ app } = await env.api());
  await env.worker({ queues: ['webhooks'] });
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

const billing = (query: string) => page.goto(`${base}/app/billing?shop=${shop.domain}${query}`);
const text = async (testId: string) => (await page.getByTestId(testId).textContent()) ?? '';

/**
 * The credit history has loaded: its rows (or its empty state) are in and
 * Polaris' loading panel is hidden. The panel never leaves the document: once
 * the history is in, it fades out for 100 ms and only then turns
 * `visibility: hidden`, so an axe check during the fade measures the
 * half-transparent "Loading transactions…" (color-contrast).
 */
async function historyLoaded(): Promise<void> {
  await waitFor(
    'the credit history to load',
    async () =>
      (await page.getByText('Loading transactions…').filter({ visible: true }).count()) === 0 &&
      (await page.locator('.Polaris-IndexTable__TableRow').count()) + (await page.getByText('No purchases yet.').filter({ visible: true }).count()) > 0,
    10_000,
  );
}

async function pendingPurchase(credits: number): Promise<string> {
  const sessionId = rid('cs_test');
  await env.db.$executeRaw`
    INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
    VALUES (${shop.id}::uuid, ${sessionId}, 'starter', ${credits}::int, 1000, 'usd')`;
  return sessionId;
}

it('back from a paid checkout: the purchase is being confirmed, and the credits show when the webhook grants them', async () => {
  const sessionId = await pendingPurchase(1000);
  await billing('&checkout=success');
  const banner = page.getByRole('status').filter({ hasText: 'Confirming your purchase' });
  await banner.waitFor();
  // It does not claim what has not happened yet.
  expect(await banner.innerText()).not.toMatch(/added to your|have arrived|were added/i);
  await waitFor('the wallet to load', async () => /^\d/.test(await text('wallet-available')), 10_000);
  expect(await text('wallet-available')).toBe('0');
  await historyLoaded();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'billing-checkout-success');

  const pi = rid('pi');
  const paid = await postStripe(app, stripeEvent('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id })));
  expect(paid.status).toBe(200);
  // No reload: the page asks again.
  await waitFor('the granted credits to show', async () => (await text('wallet-available')) === '1,000', 15_000);
  await page.locator('tbody').getByText('Purchase', { exact: true }).waitFor();

  // Dismissed, it is gone, also from the address (a reload does not bring it back).
  await banner.getByRole('button', { name: /dismiss/i }).click();
  await banner.waitFor({ state: 'detached' });
  expect(new URL(page.url()).searchParams.has('checkout')).toBe(false);
  expect(new URL(page.url()).searchParams.get('shop')).toBe(shop.domain);

  // A dispute of that payment opens: the held credits are shown and not available.
  expect((await postStripe(app, stripeEvent('charge.dispute.created', disputeObject(pi, 'needs_response')))).status).toBe(200);
  await waitFor('the hold to be made', async () => {
    const [w] = await env.db.$queryRaw<{ reserved: bigint }[]>`SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
    return w?.reserved === 1000n;
  }, 10_000);
  await billing('');
  await page.getByTestId('wallet-held').waitFor();
  expect(await text('wallet-held')).toBe('1,000');
  expect(await text('wallet-available')).toBe('0');
  await historyLoaded();
  expect(await page.getByText('Confirming your purchase').count()).toBe(0);
  expect(await seriousViolations(page)).toEqual([]);
}, 90_000);

it('back from a cancelled checkout: nothing was bought', async () => {
  await billing('&checkout=cancelled');
  // A warning banner is an alert (Polaris).
  const banner = page.getByRole('alert').filter({ hasText: 'Checkout cancelled' });
  await banner.waitFor();
  expect(await banner.innerText()).toContain('No payment was taken');
  expect(await page.getByText('Confirming your purchase').count()).toBe(0);
  await historyLoaded();
  expect(await seriousViolations(page)).toEqual([]);
  await banner.getByRole('button', { name: /dismiss/i }).click();
  await banner.waitFor({ state: 'detached' });
}, 60_000);

it('an unknown checkout value shows no banner', async () => {
  await billing('&checkout=%3Cscript%3E');
  await page.getByRole('heading', { name: 'Billing', level: 1 }).waitFor();
  await waitFor('the wallet to load', async () => /^\d/.test(await text('wallet-available')), 10_000);
  await historyLoaded();
  expect(await page.getByText('Confirming your purchase').count()).toBe(0);
  expect(await page.getByText('Checkout cancelled').count()).toBe(0);
  expect(await seriousViolations(page)).toEqual([]);
}, 60_000);
