import { Router } from 'express';
import { currentTraceId } from '../../../../lib/context';
import { isAppError } from '../../../../lib/errors';
import {
  createCampaignSchema,
  emptyBodySchema,
  listCampaignsQuerySchema,
  campaignTimeseriesQuerySchema,
  previewCampaignSchema,
  updateCampaignSchema,
} from '../../../../domain/campaigns/campaign-input';
import { campaignStats } from '../../../../domain/campaigns/campaign-stats';
import { campaignTimeseries } from '../../../../domain/campaigns/campaign-timeseries';
import { cancelCampaign } from '../../../../domain/campaigns/cancel-campaign';
import { toCampaignView } from '../../../../domain/campaigns/campaign-view';
import { createCampaign } from '../../../../domain/campaigns/create-campaign';
import { deleteDraftCampaign } from '../../../../domain/campaigns/delete-campaign';
import { enqueueCampaign } from '../../../../domain/campaigns/enqueue-campaign';
import { getCampaignRow } from '../../../../domain/campaigns/get-campaign';
import { listCampaigns } from '../../../../domain/campaigns/list-campaigns';
import { previewCampaign } from '../../../../domain/campaigns/preview-campaign';
import { updateCampaign } from '../../../../domain/campaigns/update-campaign';
import { trackedLinksOf } from '../../../../domain/links/link-code';
import { CAMPAIGN_SCAN_LIMITS, ScanThrottle } from '../../../../lib/scan-throttle';
import type { ApiDeps } from '../deps';
import { shedWhenOverloaded } from '../middleware/backpressure';
import { idParam } from '../middleware/id-param';
import { idempotency, idempotencyGuardOf } from '../middleware/idempotency';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

type EnqueueOutcome = 'queued' | 'scheduled' | 'insufficient_credits' | 'invalid_state' | 'overloaded';

export function campaignRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  const optionalKey = idempotency(deps, { required: false });
  const requiredKey = idempotency(deps, { required: true });
  const enqueued = (outcome: EnqueueOutcome): void => deps.metrics.campaignsEnqueued.inc({ outcome });
  const traceId = (res: { locals: Record<string, unknown> }): string => currentTraceId() ?? String(res.locals.requestId);
  // A malformed id names nothing: 404 like any unknown id, before any key is claimed.
  const campaignId = idParam('Campaign');
  const idOf = (req: { params: Record<string, unknown> }): string => String(req.params.id);
  // The statistics, the chart and the preview's send timing read every recipient or audience contact: a large one's are shared and kept a while.
  const scans = new ScanThrottle(CAMPAIGN_SCAN_LIMITS);

  router.post(
    '/campaigns',
    ...validated({ body: createCampaignSchema, use: [optionalKey] }, async ({ body }, _req, res) => {
      const { response } = await createCampaign(deps.db, {
        shopId: shopOf(res).shopId,
        input: body,
        guard: idempotencyGuardOf(res),
        responseStatus: 201,
        locationOf: (id) => `/api/campaigns/${id}`,
      });
      // Exactly the bytes the create's transaction may have stored for replays.
      res.status(response.status).location(response.location).type('json').send(response.body);
    }),
  );

  router.get(
    '/campaigns',
    ...validated({ query: listCampaignsQuerySchema }, async ({ query }, _req, res) => {
      res.json(await listCampaigns(deps.db, shopOf(res).shopId, query));
    }),
  );

  router.get(
    '/campaigns/:id',
    ...validated({ use: [campaignId] }, async (_input, req, res) => {
      res.json(toCampaignView(await getCampaignRow(deps.db, shopOf(res).shopId, idOf(req))));
    }),
  );

  router.patch(
    '/campaigns/:id',
    ...validated({ body: updateCampaignSchema, use: [campaignId, optionalKey] }, async ({ body }, req, res) => {
      const campaign = await updateCampaign(deps, {
        shopId: shopOf(res).shopId,
        campaignId: idOf(req),
        input: body,
        guard: idempotencyGuardOf(res),
        traceId: traceId(res),
        now: deps.now(),
      });
      res.json(campaign);
    }),
  );

  router.delete(
    '/campaigns/:id',
    ...validated({ body: emptyBodySchema, use: [campaignId, optionalKey] }, async (_input, req, res) => {
      await deleteDraftCampaign(deps.db, { shopId: shopOf(res).shopId, campaignId: idOf(req), guard: idempotencyGuardOf(res) });
      res.status(204).end();
    }),
  );

  router.post(
    '/campaigns/:id/preview',
    ...validated({ body: previewCampaignSchema, use: [campaignId, optionalKey] }, async ({ body }, req, res) => {
      res.json(await previewCampaign(deps.db, { shopId: shopOf(res).shopId, campaignId: idOf(req), contactId: body.contactId, linkBase: trackedLinksOf(deps.config).base, now: deps.now(), quietHoursFloor: deps.config.SMS_QUIET_HOURS_FLOOR, sendTiming: body.sendTiming, scans }));
    }),
  );

  router.post(
    '/campaigns/:id/enqueue',
    // Shedding runs before the key is claimed: an overloaded enqueue writes nothing.
    ...validated({ body: emptyBodySchema, use: [campaignId, shedWhenOverloaded(deps, () => enqueued('overloaded')), requiredKey] }, async (_input, req, res) => {
      try {
        const { result, responseBody } = await enqueueCampaign(deps, {
          shopId: shopOf(res).shopId,
          campaignId: idOf(req),
          guard: idempotencyGuardOf(res),
          traceId: traceId(res),
          now: deps.now(),
          responseStatus: 202,
        });
        enqueued(result.campaign.status === 'scheduled' ? 'scheduled' : 'queued');
        // Exactly the bytes the enqueue statement may have stored for replays.
        res.status(202).type('json').send(responseBody);
      } catch (err) {
        if (isAppError(err) && err.code === 'INSUFFICIENT_CREDITS') enqueued('insufficient_credits');
        if (isAppError(err) && err.code === 'INVALID_STATE') enqueued('invalid_state');
        throw err;
      }
    }),
  );

  router.post(
    '/campaigns/:id/cancel',
    ...validated({ body: emptyBodySchema, use: [campaignId, requiredKey] }, async (_input, req, res) => {
      const result = await cancelCampaign(deps.db, { shopId: shopOf(res).shopId, campaignId: idOf(req), guard: idempotencyGuardOf(res), now: deps.now() });
      res.json(result.campaign);
    }),
  );

  router.get(
    '/campaigns/:id/stats',
    ...validated({ use: [campaignId] }, async (_input, req, res) => {
      res.json(await campaignStats(deps.db, shopOf(res).shopId, idOf(req), { scans }));
    }),
  );

  router.get(
    '/campaigns/:id/timeseries',
    ...validated({ query: campaignTimeseriesQuerySchema, use: [campaignId] }, async ({ query }, req, res) => {
      res.json(await campaignTimeseries(deps.db, { shopId: shopOf(res).shopId, campaignId: idOf(req), bucket: query.bucket, now: deps.now(), scans }));
    }),
  );

  return router;
}
