import type { LinkLikeComponentProps } from '@shopify/polaris/build/ts/src/utilities/link';
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type MouseEvent, type ReactNode } from 'react';

// A small history router: the admin has a handful of routes under /app and
// the query string Shopify adds (shop, host, embedded…) must survive every
// navigation, since App Bridge reads it.

export const BASE = '/app';

interface RouterValue {
  path: string;
  search: URLSearchParams;
  navigate(to: string): void;
}

const RouterContext = createContext<RouterValue | null>(null);

function currentPath(): string {
  const p = window.location.pathname;
  const rest = p.startsWith(BASE) ? p.slice(BASE.length) : p;
  return rest === '' ? '/' : rest;
}

/** The app is opening on Home. */
export function isHome(): boolean {
  return currentPath() === '/';
}

/** Shopify's own parameters, kept on every in-app link. */
function carriedQuery(): string {
  const q = new URLSearchParams(window.location.search);
  const kept = new URLSearchParams();
  for (const k of ['shop', 'host', 'embedded', 'locale']) {
    const v = q.get(k);
    if (v) kept.set(k, v);
  }
  const s = kept.toString();
  return s ? `?${s}` : '';
}

export function href(to: string): string {
  const [p, q] = to.split('?');
  const carried = carriedQuery();
  const extra = q ? (carried ? `&${q}` : `?${q}`) : '';
  return `${BASE}${p === '/' ? '' : p}${carried}${extra}`;
}

export function RouterProvider({ children }: { children: ReactNode }) {
  const [loc, setLoc] = useState(() => ({ path: currentPath(), search: window.location.search }));
  useEffect(() => {
    const onPop = () => setLoc({ path: currentPath(), search: window.location.search });
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to: string) => {
    window.history.pushState(null, '', to.startsWith(BASE) ? to : href(to));
    setLoc({ path: currentPath(), search: window.location.search });
    window.scrollTo(0, 0);
  }, []);
  const value = useMemo(() => ({ path: loc.path, search: new URLSearchParams(loc.search), navigate }), [loc, navigate]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export function useRouter(): RouterValue {
  const r = useContext(RouterContext);
  if (!r) throw new Error('useRouter outside RouterProvider');
  return r;
}

/**
 * Polaris renders every `url` (links, buttons, resource items) through this:
 * an in-app link changes the page without reloading it; any other link, or a
 * click with a modifier (new tab), is left to the browser.
 */
export function AppLink({ url, external, children, ...rest }: LinkLikeComponentProps) {
  const { navigate } = useRouter();
  const inApp = !external && (url === BASE || url.startsWith(`${BASE}/`) || url.startsWith(`${BASE}?`));
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (!inApp || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(url);
  };
  return (
    <a href={url} {...(rest as Record<string, unknown>)} onClick={onClick} target={external ? '_blank' : undefined} rel={external ? 'noopener noreferrer' : undefined}>
      {children}
    </a>
  );
}
