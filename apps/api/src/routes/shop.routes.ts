import { Router } from 'express';
import { z } from 'zod';
import { getLatestShopSync, toShopSyncView } from '../../../../domain/shop-sync/shop-sync-view';
import { startShopSync } from '../../../../domain/shop-sync/start-shop-sync';
import { getShop } from '../../../../domain/shops/get-shop';
import { previewQuietHours, previewQuietHoursSchema } from '../../../../domain/shops/preview-quiet-hours';
import { getKeywordReplySettings, keywordReplySettingsPatchSchema, updateKeywordReplySettings } from '../../../../domain/shops/keyword-reply-settings';
import { currentTraceId } from '../../../../lib/context';
import { AppError } from '../../../../lib/errors';
import { shopSettingsPatchSchema, updateShopSettings } from '../../../../domain/shops/update-shop-settings';
import type { ApiDeps } from '../deps';
import { idempotency, idempotencyGuardOf } from '../middleware/idempotency';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

const noQuery = z.object({}).strict();
const noBody = z.object({}).strict();

export function shopRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);

  router.get(
    '/shop',
    ...validated({ query: noQuery }, async (_input, _req, res) => {
      res.json(await getShop(deps.db, shopOf(res).shopId, deps.now()));
    }),
  );

  router.patch(
    '/shop',
    ...validated({ body: shopSettingsPatchSchema, query: noQuery, use: [idempotency(deps, { required: false })] }, async ({ body }, _req, res) => {
      res.json(await updateShopSettings(deps.db, shopOf(res).shopId, body, { defaultSender: deps.config.SMS_DEFAULT_SENDER, guard: idempotencyGuardOf(res), now: deps.now() }));
    }),
  );

  // Settings' live warning for quiet hours not saved yet: reads only, so the key is optional (every POST honours one).
  router.post(
    '/shop/quiet-hours/preview',
    ...validated({ body: previewQuietHoursSchema, query: noQuery, use: [idempotency(deps, { required: false })] }, async ({ body }, _req, res) => {
      res.json(previewQuietHours(body, deps.now()));
    }),
  );

  // The STOP/START/HELP confirmation texts and the replies sent (docs/api.md, "Keyword replies").
  router.get(
    '/shop/keyword-replies',
    ...validated({ query: noQuery }, async (_input, _req, res) => {
      res.json(await getKeywordReplySettings(deps.db, shopOf(res).shopId));
    }),
  );

  router.patch(
    '/shop/keyword-replies',
    ...validated({ body: keywordReplySettingsPatchSchema, query: noQuery, use: [idempotency(deps, { required: false })] }, async ({ body }, _req, res) => {
      res.json(await updateKeywordReplySettings(deps.db, shopOf(res).shopId, body, idempotencyGuardOf(res)));
    }),
  );

  // The customer sync from Shopify (docs/shopify.md "Customer sync").
  router.get(
    '/shop/sync',
    ...validated({ query: noQuery }, async (_input, _req, res) => {
      const sync = await getLatestShopSync(deps.db, shopOf(res).shopId);
      if (!sync) throw new AppError('NOT_FOUND', 'The shop has had no customer sync yet');
      res.json(toShopSyncView(sync));
    }),
  );

  // A resync: 202 with the new sync, or 200 with the one already queued or running (one per shop).
  router.post(
    '/shop/sync',
    ...validated({ body: noBody, query: noQuery, use: [idempotency(deps, { required: false })] }, async (_input, _req, res) => {
      const { sync, created } = await startShopSync(deps.db, deps.producer, { shopId: shopOf(res).shopId, traceId: currentTraceId() }, idempotencyGuardOf(res));
      res.setHeader('Location', '/api/shop/sync');
      res.status(created ? 202 : 200).json(toShopSyncView(sync));
    }),
  );

  return router;
}
