import type { Router } from 'express';
import type { ApiDeps } from '../deps';

/**
 * The session-authenticated /api routers, in mount order. One line per
 * feature router; each router declares its own paths under /api.
 */
export function apiRouters(deps: ApiDeps): Router[] {
  void deps;
  return [];
}
