import type { Router } from 'express';
import type { ApiDeps } from '../deps';
import { campaignRoutes } from './campaigns.routes';
import { flowRoutes } from './flows.routes';
import { contactsRoutes } from './contacts.routes';
import { shopRoutes } from './shop.routes';
import { walletRoutes } from './wallet.routes';
import { billingRoutes } from './billing.routes';
import { privacyRoutes } from './privacy.routes';

/**
 * The session-authenticated /api routers, in mount order. One line per
 * feature router; each router declares its own paths under /api.
 */
export function apiRouters(deps: ApiDeps): Router[] {
  void deps;
  return [
    shopRoutes(deps),
    contactsRoutes(deps),
    campaignRoutes(deps),
    flowRoutes(deps),
    walletRoutes(deps),
    billingRoutes(deps),
    privacyRoutes(deps),
  ];
}
