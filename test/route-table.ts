import type { Express } from 'express';

// The app's routes, read from Express 5's own router stack (router@2 layers),
// so tests that must cover "every route" cover routes added later too.

export interface RouteEntry {
  /** Upper-case HTTP method. */
  method: string;
  /** Express path template, e.g. `/api/contacts/:id`. */
  path: string;
  /** Names of the `:params` in the path, in order. */
  params: string[];
}

interface LayerLike {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: unknown };
}

function joinPath(prefix: string, path: string): string {
  const joined = `${prefix}${path === '/' ? '' : path}`;
  return joined === '' ? '/' : joined;
}

function walk(stack: LayerLike[], prefix: string, out: RouteEntry[]): void {
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const p of paths) {
        if (typeof p !== 'string') throw new Error(`route-table: a route with a non-string path (${String(p)}) cannot be listed`);
        const path = joinPath(prefix, p);
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (!on || method === '_all') continue;
          out.push({ method: method.toUpperCase(), path, params: [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!) });
        }
      }
      continue;
    }
    const nested = layer.handle?.stack;
    if (Array.isArray(nested)) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      walk(nested as LayerLike[], `${prefix}${mount}`, out);
    }
  }
}

/** Every (method, path) the app answers, de-duplicated, sorted by path then method. */
export function routeTable(app: Express): RouteEntry[] {
  const out: RouteEntry[] = [];
  walk((app.router as unknown as { stack: LayerLike[] }).stack, '', out);
  const seen = new Set<string>();
  return out
    .filter((r) => {
      const k = `${r.method} ${r.path}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => (a.path === b.path ? a.method.localeCompare(b.method) : a.path.localeCompare(b.path)));
}

/** `/api/contacts/:id` → `/api/contacts/{id}` (OpenAPI's template syntax). */
export const toOpenApiPath = (path: string): string => path.replace(/:(\w+)/g, '{$1}');
