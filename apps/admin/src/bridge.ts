// The one place the app touches App Bridge. Inside Shopify the CDN script
// defines the global `shopify`; outside it (dev, tests) a stub does. The app
// only needs a session token, toasts and a top-level redirect.

interface ShopifyBridge {
  idToken(): Promise<string>;
  toast?: { show(message: string, opts?: { isError?: boolean; duration?: number }): void };
}

const DEV_SHOP_KEY = 'sms-admin-dev-shop';

function bridge(): ShopifyBridge | undefined {
  return (globalThis as { shopify?: ShopifyBridge }).shopify;
}

/**
 * The dev stub (only reachable when the api is not in production): the
 * /app/dev-login page stores a shop in this tab's sessionStorage, and tokens
 * are then minted by /app/dev-login/token. In production that route is 404,
 * so no token can come from here.
 */
async function devToken(shop: string): Promise<string> {
  const res = await fetch(`/app/dev-login/token?shop=${encodeURIComponent(shop)}`, { cache: 'no-store' });
  if (!res.ok) throw new Error('The development sign-in is not available.');
  const { token } = (await res.json()) as { token: string };
  return token;
}

export async function sessionToken(): Promise<string> {
  const b = bridge();
  if (b && typeof b.idToken === 'function') return b.idToken();
  const devShop = sessionStorage.getItem(DEV_SHOP_KEY);
  if (devShop) return devToken(devShop);
  throw new Error('Open this app from your Shopify admin.');
}

export function toast(message: string, isError = false): void {
  bridge()?.toast?.show(message, { isError, duration: 4000 });
}

/** Embedded in the Shopify admin (an iframe), App Bridge's nav menu is shown there; elsewhere the page shows its own. */
export function isEmbedded(): boolean {
  try {
    return window.top !== window.self;
  } catch {
    return true;
  }
}

/**
 * Stripe Checkout refuses to run in an iframe: leave the admin frame. App
 * Bridge v4 intercepts `open(url, '_top')` for a top-level redirect.
 */
export function redirectTop(url: string): void {
  window.open(url, '_top');
}
