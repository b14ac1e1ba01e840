import { Router } from 'express';
import { z } from 'zod';
import { getShop } from '../../../../domain/shops/get-shop';
import { shopSettingsPatchSchema, updateShopSettings } from '../../../../domain/shops/update-shop-settings';
import type { ApiDeps } from '../deps';
import { idempotency } from '../middleware/idempotency';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

const noQuery = z.object({}).strict();

export function shopRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);

  router.get(
    '/shop',
    ...validated({ query: noQuery }, async (_input, _req, res) => {
      res.json(await getShop(deps.db, shopOf(res).shopId));
    }),
  );

  router.patch(
    '/shop',
    ...validated({ body: shopSettingsPatchSchema, query: noQuery, use: [idempotency(deps, { required: false })] }, async ({ body }, _req, res) => {
      res.json(await updateShopSettings(deps.db, shopOf(res).shopId, body, { defaultSender: deps.config.SMS_DEFAULT_SENDER }));
    }),
  );

  return router;
}
