import { existsSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { sessionToken } from '../session-token';

// Debian's chromium, driven by playwright-core (no browser download). CI
// installs it (.ci/run); without it these tests fail and say so.

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(__dirname, '..', '..', 'docs', 'screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A browser context standing in for the Shopify admin: App Bridge's CDN
 * script is answered empty (the network here cannot reach it, and tests must
 * not depend on it) and `window.shopify.idToken()` returns a session token
 * the test signs for `shopDomain`, as App Bridge would.
 */
export async function adminContext(browser: Browser, shopDomain: string): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.route('https://cdn.shopify.com/**', (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body: '' }));
  await context.exposeFunction('__testIdToken', () => sessionToken(shopDomain));
  await context.addInitScript(() => {
    const w = globalThis as unknown as { shopify: unknown; __testIdToken: () => Promise<string>; __toasts: string[] };
    w.__toasts = [];
    w.shopify = {
      idToken: () => w.__testIdToken(),
      toast: { show: (m: string) => w.__toasts.push(m) },
    };
    // The meaningful paint of the home page: the first frame after its data
    // (the wallet) is in the document, stamped from navigation start.
    const g = globalThis as unknown as {
      __dataPaint?: number;
      document: { querySelector(s: string): { textContent: string | null } | null };
      MutationObserver: new (cb: () => void) => { observe(n: unknown, o: object): void; disconnect(): void };
      requestAnimationFrame(cb: () => void): void;
      performance: { now(): number };
    };
    const seen = () => /^\d/.test(g.document.querySelector('[data-testid="home-available"]')?.textContent ?? '');
    const mo = new g.MutationObserver(() => {
      if (g.__dataPaint !== undefined || !seen()) return;
      mo.disconnect();
      // Two frames: the callback of the first runs before that frame paints.
      g.requestAnimationFrame(() => g.requestAnimationFrame(() => (g.__dataPaint = g.performance.now())));
    });
    // The document itself: its <html> element does not exist yet when this runs.
    mo.observe(g.document, { childList: true, subtree: true, characterData: true });
  });
  return context;
}

/** axe-core: violations of impact serious or critical on the page as it is now. */
export async function seriousViolations(page: Page): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  // Polaris' index-table loading overlay is a transient, half-transparent
  // panel: axe measuring contrast through its fade-out reports the page under
  // it. The panel stays in the page (IndexTable toggles a class: opacity
  // fades for 100 ms, then visibility turns hidden), so wait for every one of
  // them to be hidden, not detached (a wait for detached timed out on every
  // page with a table, or failed at once on a page with two, and then axe ran
  // mid-fade).
  await page
    .waitForFunction(`[...document.querySelectorAll('.Polaris-IndexTable__LoadingPanel')].every((el) => getComputedStyle(el).visibility === 'hidden')`, undefined, { timeout: 10_000 })
    .catch(() => undefined);
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact ?? '', help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
