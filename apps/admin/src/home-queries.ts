/**
 * What Home reads first: main.tsx asks for them before the first render, and
 * index.html's inline script before the app's code has loaded (keep its list
 * the same). Its own module, so Home stays hot-reloadable (a component file
 * exporting anything else is reloaded whole).
 */
export const HOME_QUERIES = ['/wallet', '/campaigns?limit=50', '/contacts?limit=1'] as const;
