import type { Page, Route } from 'playwright-core';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe-server';
import { waitFor } from '../sending';
import { startAdminPage, type AdminPage } from './admin-page';

// Buying a pack when the answer is lost: the api created the Checkout Session
// but the merchant's browser saw a network error. Clicking Buy again must be
// the same purchase (same Idempotency-Key, so the api replays the stored
// answer and Stripe is not asked for a second session); only a definitive
// refusal starts a new purchase intent.

let admin: AdminPage;
let page: Page;
let base: string;
let stripe: FakeStripe;

beforeAll(async () => {
  stripe = await startFakeStripe();
  admin = await startAdminPage(undefined, { STRIPE_API_BASE: stripe.url, PUBLIC_BASE_URL: 'https://app.example.test/' });
  ({ page, base } = admin);
  await page.route('https://checkout.stripe.test/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Stripe Checkout</title><p>Checkout</p>' }));
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await stripe?.close();
});

const CHECKOUT = '**/api/billing/checkout';
const keyOf = (route: Route): string => route.request().headers()['idempotency-key'] ?? '';

async function openBilling(): Promise<void> {
  await page.goto(`${base}/app/billing?shop=${admin.shop.domain}`);
  await page.getByRole('button', { name: /Buy 1,000 credits/ }).waitFor();
}

it('a retry after a lost answer opens the same checkout session', async () => {
  const keys: string[] = [];
  let lost = false;
  await page.route(CHECKOUT, async (route) => {
    keys.push(keyOf(route));
    if (!lost) {
      lost = true;
      // The api does the work (Stripe creates the session) but the answer never arrives.
      const res = await route.fetch();
      expect(res.status()).toBe(201);
      await route.abort('connectionreset');
      return;
    }
    await route.continue();
  });
  await openBilling();
  await page.getByRole('button', { name: /Buy 1,000 credits/ }).click();
  await waitFor('the lost answer', () => keys.length === 1 && stripe.sessions.length === 1, 15_000);
  // The page is still here (no redirect) and lets the merchant try again.
  await waitFor('the Buy button to be usable again', async () => page.getByRole('button', { name: /Buy 1,000 credits/ }).isEnabled(), 10_000);
  expect(page.url()).toContain('/app/billing');

  await page.getByRole('button', { name: /Buy 1,000 credits/ }).click();
  await page.waitForURL(/^https:\/\/checkout\.stripe\.test\/c\/pay\//);
  expect(keys).toHaveLength(2);
  expect(keys[1]).toBe(keys[0]);
  // One session at Stripe, and the merchant is on it.
  expect(stripe.sessions).toHaveLength(1);
  expect(page.url()).toBe((stripe.sessions[0] as { url: string }).url);
  await page.unroute(CHECKOUT);
}, 60_000);

it('a definitive refusal (4xx) starts a new purchase intent; a server error keeps it', async () => {
  const keys: string[] = [];
  const answers: { status: number; code: string }[] = [
    { status: 500, code: 'INTERNAL' },
    { status: 400, code: 'VALIDATION_FAILED' },
  ];
  await page.route(CHECKOUT, async (route) => {
    keys.push(keyOf(route));
    const a = answers.shift();
    if (a) {
      await route.fulfill({ status: a.status, contentType: 'application/json', body: JSON.stringify({ error: { code: a.code, message: 'No', requestId: `r-${a.status}` } }) });
      return;
    }
    await route.continue();
  });
  const before = stripe.sessions.length;
  await openBilling();
  const buy = page.getByRole('button', { name: /Buy 1,000 credits/ });
  for (let i = 1; i <= 2; i++) {
    await buy.click();
    await waitFor(`answer ${i}`, () => keys.length === i, 10_000);
    await waitFor('the Buy button to be usable again', async () => buy.isEnabled(), 10_000);
  }
  await buy.click();
  await page.waitForURL(/^https:\/\/checkout\.stripe\.test\/c\/pay\//);
  expect(keys).toHaveLength(3);
  // The 500 may have done the work: its retry is the same request.
  expect(keys[1]).toBe(keys[0]);
  // The 400 was a refusal: what follows is a new request.
  expect(keys[2]).not.toBe(keys[1]);
  expect(stripe.sessions).toHaveLength(before + 1);
  await page.unroute(CHECKOUT);
}, 60_000);
