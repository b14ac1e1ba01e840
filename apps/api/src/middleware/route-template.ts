import type { Express, Request } from 'express';

// The route a request matched, named by the template it was declared with
// (`/api/campaigns/:id`) and never by the path as sent: rate-limit groups,
// idempotency scopes and metric labels keyed by the raw path could be
// multiplied by respelling it. `req.baseUrl` is raw (and is reset when an
// error leaves a router), so each Route's full template is recorded once the
// app is assembled and looked up by the Route object Express matched.
const templates = new WeakMap<object, string>();

interface LayerLike {
  rawPath?: unknown;
  route?: { path?: unknown };
  handle?: { stack?: unknown };
}

function walk(stack: LayerLike[], prefix: string): number {
  let found = 0;
  for (const layer of stack) {
    if (layer.route) {
      const path = layer.route.path;
      if (typeof path !== 'string') throw new Error(`route-template: a route without a string path under ${prefix || '/'}`);
      templates.set(layer.route, `${prefix}${path === '/' && prefix ? '' : path}`);
      found++;
      continue;
    }
    const nested = layer.handle?.stack;
    if (Array.isArray(nested)) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      found += walk(nested as LayerLike[], `${prefix}${mount}`);
    }
  }
  return found;
}

/** Records the template of every route of `app`; call once every router is mounted. */
export function recordRouteTemplates(app: Express): void {
  // Express keeps its layers in `router.stack` (router@2); if that ever changes, fail at start, not per request.
  if (walk((app.router as unknown as { stack: LayerLike[] }).stack, '') === 0) {
    throw new Error('route-template: no routes found in the app router');
  }
}

/** The matched route's template, or null when the request matched no route. */
export function routeTemplateOf(req: Request): string | null {
  const route = req.route as object | undefined;
  return route ? (templates.get(route) ?? null) : null;
}
