import { Router } from 'express';
import { getPrivacyRequest, listPrivacyRequests, listPrivacyRequestsQuerySchema } from '../../../../domain/privacy/privacy-requests';
import type { ApiDeps } from '../deps';
import { idParam } from '../middleware/id-param';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

/** GDPR requests Shopify forwarded (customers/data_request, customers/redact), for the merchant to act on. */
export function privacyRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  router.get(
    '/privacy/requests',
    ...validated({ query: listPrivacyRequestsQuerySchema }, async ({ query }, _req, res) => {
      res.json(await listPrivacyRequests(deps.db, shopOf(res).shopId, query));
    }),
  );
  router.get(
    '/privacy/requests/:id',
    ...validated({ use: [idParam('Privacy request')] }, async (_input, req, res) => {
      res.json(await getPrivacyRequest(deps.db, shopOf(res).shopId, String(req.params.id)));
    }),
  );
  return router;
}
