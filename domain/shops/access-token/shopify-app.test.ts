import { parseConfig } from '../../../lib/config';
import { redirectedRequest, SHOP_HEADER, shopifyApp } from './shopify-app';

describe('redirectedRequest (SHOPIFY_ADMIN_API_BASE)', () => {
  it('sends a shop URL to the base, keeping the path and naming the shop in a header', () => {
    const r = redirectedRequest('https://demo-1.myshopify.com/admin/api/2025-10/graphql.json', { method: 'POST', headers: { 'X-Shopify-Access-Token': 't' } }, 'http://127.0.0.1:4020/');
    expect(r.url).toBe('http://127.0.0.1:4020/admin/api/2025-10/graphql.json');
    const headers = new Headers(r.init!.headers);
    expect(headers.get(SHOP_HEADER)).toBe('demo-1.myshopify.com');
    expect(headers.get('X-Shopify-Access-Token')).toBe('t');
    expect(r.init!.method).toBe('POST');
  });

  it('keeps a base path prefix, and leaves other URLs and an unset base alone', () => {
    expect(redirectedRequest('https://a.myshopify.com/admin/oauth/access_token', undefined, 'http://fake.local/shopify').url).toBe('http://fake.local/shopify/admin/oauth/access_token');
    expect(redirectedRequest('https://example.com/admin/x', undefined, 'http://fake.local').url).toBe('https://example.com/admin/x');
    expect(redirectedRequest('http://a.myshopify.com/admin/x', undefined, 'http://fake.local').url).toBe('http://a.myshopify.com/admin/x');
    expect(redirectedRequest('https://a.myshopify.com/admin/x', undefined, undefined).url).toBe('https://a.myshopify.com/admin/x');
  });
});

describe('shopifyApp', () => {
  it('is one instance per configuration, embedded, with the app scopes', () => {
    const config = parseConfig({});
    const app = shopifyApp(config);
    expect(shopifyApp(config)).toBe(app);
    expect(app.config.isEmbeddedApp).toBe(true);
    // The library folds read_x into write_x; the set is the same.
    expect(app.config.scopes!.equals(['read_customers', 'write_customers', 'read_orders'])).toBe(true);
  });
});
