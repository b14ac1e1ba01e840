import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Router, type RequestHandler, type Response } from 'express';
import { SignJWT } from 'jose';
import { notFound } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';
import { EXACT_ROUTING } from '../router-options';

// The embedded admin (apps/admin, built by Vite) served at /app, so the app
// deploys as one process. Shopify loads /app?shop=<shop>&host=… in an iframe
// of the shop's admin: index.html may be framed by that shop's admin and by
// admin.shopify.com only (Shopify requires exactly this frame-ancestors).

const SHOP_HOST = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;
// Vite's output names: `<name>-<hash>.<ext>`, nothing else is served from assets/.
const ASSET_NAME = /^[A-Za-z0-9_-]+\.(js|css|woff2?|svg|png)$/;
const DEV_TOKEN_TTL_S = 60;
const COMPRESSIBLE = new Set(['.js', '.css', '.svg']);

/** The repository root, found from here whether this runs from the sources or from the compiled dist/. */
function repoRoot(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

export const ADMIN_DIST_DIR = path.join(repoRoot(__dirname), 'apps', 'admin', 'dist');

/** The `shop` query parameter when it names a shop's admin host, else null (then only admin.shopify.com may frame). */
export function frameAncestors(shop: unknown): string {
  const s = typeof shop === 'string' ? shop.toLowerCase() : '';
  return SHOP_HOST.test(s) ? `frame-ancestors https://${s} https://admin.shopify.com;` : 'frame-ancestors https://admin.shopify.com;';
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function noStoreHtml(res: Response, shop: unknown, html: string): void {
  res
    .status(200)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': frameAncestors(shop),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'strict-origin-when-cross-origin',
    })
    .send(html);
}

export function adminRoutes(deps: ApiDeps, o: { distDir?: string } = {}): Router {
  const dist = o.distDir ?? ADMIN_DIST_DIR;
  const assets = path.join(dist, 'assets');
  const router = Router(EXACT_ROUTING);
  const production = deps.config.NODE_ENV === 'production';

  // Read per request: small, and `vite build --watch` replaces it in development.
  const indexHtml = async (): Promise<string> => {
    const html = await readFile(path.join(dist, 'index.html'), 'utf8').catch(() => {
      throw notFound('Admin build (run npm run build:admin)');
    });
    return html.replaceAll('%SHOPIFY_API_KEY%', escapeHtml(deps.config.SHOPIFY_API_KEY));
  };

  router.get('/assets/:file', (req, res, next) => {
    const file = req.params.file;
    if (!ASSET_NAME.test(file)) return next(notFound('File'));
    // The build wrote brotli and gzip copies of scripts and stylesheets
    // (scripts/build-admin.mjs): sent as they are when the browser takes them.
    const ext = path.extname(file);
    // Brotli whenever taken (smaller; browsers list it after gzip at the same weight).
    const encoding = !COMPRESSIBLE.has(ext) ? false : req.acceptsEncodings('br') === 'br' ? 'br' : req.acceptsEncodings('gzip');
    const send = (name: string, encoded: boolean) => {
      res.vary('Accept-Encoding');
      if (encoded) res.set('Content-Encoding', String(encoding)).type(ext);
      // `root` confines the lookup to assets/ (send refuses `..` and dotfiles);
      // the name check above already allows neither.
      res.sendFile(name, { root: assets, maxAge: 365 * 24 * 3600 * 1000, immutable: true, dotfiles: 'deny', lastModified: false, headers: { 'X-Content-Type-Options': 'nosniff' } }, (err) => {
        if (!err) return;
        if (encoded && !res.headersSent) {
          // No compressed copy (a build without them): the file itself.
          res.removeHeader('Content-Encoding');
          res.removeHeader('Content-Type');
          return send(file, false);
        }
        next(notFound('File'));
      });
    };
    send(encoding === 'br' || encoding === 'gzip' ? `${file}.${encoding === 'br' ? 'br' : 'gz'}` : file, encoding === 'br' || encoding === 'gzip');
  });

  // Development only: a stand-in for App Bridge outside Shopify. The page
  // stores the shop in the tab and the app asks /token for session tokens,
  // signed like Shopify's. Production has no such route (404).
  if (production) {
    // Not the app's index.html either: the path simply does not exist.
    const gone: RequestHandler = (_req, _res, next) => next(notFound());
    router.get('/dev-login', gone);
    router.get('/dev-login/*rest', gone);
  } else {
    router.get('/dev-login', (req, res, next) => {
      const shop = typeof req.query.shop === 'string' ? req.query.shop.toLowerCase() : 'dev-shop.myshopify.com';
      if (!SHOP_HOST.test(shop)) return next(notFound('Shop'));
      noStoreHtml(
        res,
        undefined,
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Development sign-in</title></head><body>` +
          `<p>Signing in to ${escapeHtml(shop)} (development only)…</p>` +
          `<script>sessionStorage.setItem('sms-admin-dev-shop', ${JSON.stringify(shop)});location.replace('/app?shop=' + encodeURIComponent(${JSON.stringify(shop)}));</script>` +
          `</body></html>`,
      );
    });
    router.get('/dev-login/token', async (req, res, next) => {
      const shop = typeof req.query.shop === 'string' ? req.query.shop.toLowerCase() : '';
      if (!SHOP_HOST.test(shop)) return next(notFound('Shop'));
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ dest: `https://${shop}`, sid: 'dev-session' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(`https://${shop}/admin`)
        .setAudience(deps.config.SHOPIFY_API_KEY)
        .setSubject('dev-user')
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + DEV_TOKEN_TTL_S)
        .sign(new TextEncoder().encode(deps.config.SHOPIFY_API_SECRET));
      res.set('Cache-Control', 'no-store').json({ token });
    });
  }

  // Every page of the app is index.html (the app routes in the browser); a
  // path whose last segment looks like a file name is a missing file: 404.
  const page: RequestHandler = async (req, res, next) => {
    const last = req.path.split('/').pop() ?? '';
    if (last.includes('.') || req.path === '/assets' || req.path.startsWith('/assets/')) return next(notFound('File'));
    try {
      noStoreHtml(res, req.query.shop, await indexHtml());
    } catch (err) {
      next(err);
    }
  };
  router.get('/', page);
  router.get('/*page', page);

  return router;
}
