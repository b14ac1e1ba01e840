import { Router } from 'express';
import { createFlowSchema, listFlowsQuerySchema, testFlowSchema, updateFlowSchema } from '../../../../domain/flows/flow-input';
import { createFlow } from '../../../../domain/flows/create-flow';
import { deleteFlow } from '../../../../domain/flows/delete-flow';
import { getFlowDetail } from '../../../../domain/flows/get-flow';
import { getFlowStats } from '../../../../domain/flows/flow-stats';
import { listFlows } from '../../../../domain/flows/list-flows';
import { activateFlow, pauseFlow } from '../../../../domain/flows/set-flow-status';
import { testFlow } from '../../../../domain/flows/test-flow';
import { updateFlow } from '../../../../domain/flows/update-flow';
import { previewFlowMessage, previewFlowMessageSchema } from '../../../../domain/flows/preview-flow-message';
import { emptyBodySchema } from '../../../../domain/campaigns/campaign-input';
import { trackedLinksOf } from '../../../../domain/links/link-code';
import { currentTraceId } from '../../../../lib/context';
import type { ApiDeps } from '../deps';
import { idParam } from '../middleware/id-param';
import { idempotency, idempotencyGuardOf } from '../middleware/idempotency';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

/** /api/flows (api.md, "Flows"): the same validation, idempotency and tenancy rules as campaigns. */
export function flowRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  const optionalKey = idempotency(deps, { required: false });
  const requiredKey = idempotency(deps, { required: true });
  const flowId = idParam('Flow');
  const idOf = (req: { params: Record<string, unknown> }): string => String(req.params.id);

  router.post(
    '/flows',
    ...validated({ body: createFlowSchema, use: [optionalKey] }, async ({ body }, _req, res) => {
      const flow = await createFlow(deps.db, { shopId: shopOf(res).shopId, input: body, guard: idempotencyGuardOf(res), now: deps.now() });
      res.status(201).location(`/api/flows/${flow.id}`).json(flow);
    }),
  );

  // The editor's live counter, for a body not saved yet: reads only, so no key.
  router.post(
    '/flows/preview',
    ...validated({ body: previewFlowMessageSchema, use: [optionalKey] }, async ({ body }, _req, res) => {
      res.json(await previewFlowMessage(deps.db, shopOf(res).shopId, body, trackedLinksOf(deps.config).base));
    }),
  );

  router.get(
    '/flows',
    ...validated({ query: listFlowsQuerySchema }, async ({ query }, _req, res) => {
      res.json(await listFlows(deps.db, shopOf(res).shopId, query));
    }),
  );

  router.get(
    '/flows/:id',
    ...validated({ use: [flowId] }, async (_input, req, res) => {
      res.json(await getFlowDetail(deps.db, shopOf(res).shopId, idOf(req)));
    }),
  );

  // Read-only aggregates on indexes (docs/flows.md "Stats").
  router.get(
    '/flows/:id/stats',
    ...validated({ use: [flowId] }, async (_input, req, res) => {
      res.json(await getFlowStats(deps.db, shopOf(res).shopId, idOf(req)));
    }),
  );

  router.patch(
    '/flows/:id',
    ...validated({ body: updateFlowSchema, use: [flowId, optionalKey] }, async ({ body }, req, res) => {
      res.json(await updateFlow(deps.db, { shopId: shopOf(res).shopId, flowId: idOf(req), input: body, guard: idempotencyGuardOf(res), now: deps.now() }));
    }),
  );

  router.delete(
    '/flows/:id',
    ...validated({ body: emptyBodySchema, use: [flowId, optionalKey] }, async (_input, req, res) => {
      await deleteFlow(deps.db, deps.producer, { shopId: shopOf(res).shopId, flowId: idOf(req), guard: idempotencyGuardOf(res), traceId: currentTraceId() });
      res.status(204).end();
    }),
  );

  router.post(
    '/flows/:id/activate',
    ...validated({ body: emptyBodySchema, use: [flowId, requiredKey] }, async (_input, req, res) => {
      res.json(await activateFlow(deps.db, { shopId: shopOf(res).shopId, flowId: idOf(req), guard: idempotencyGuardOf(res), now: deps.now() }));
    }),
  );

  router.post(
    '/flows/:id/pause',
    ...validated({ body: emptyBodySchema, use: [flowId, requiredKey] }, async (_input, req, res) => {
      res.json(await pauseFlow(deps.db, { shopId: shopOf(res).shopId, flowId: idOf(req), guard: idempotencyGuardOf(res), now: deps.now() }));
    }),
  );

  router.post(
    '/flows/:id/test',
    ...validated({ body: testFlowSchema, use: [flowId, requiredKey] }, async ({ body }, req, res) => {
      const run = await testFlow(deps.db, {
        shopId: shopOf(res).shopId,
        flowId: idOf(req),
        contactId: body.contactId,
        requestId: String(res.locals.requestId),
        guard: idempotencyGuardOf(res),
        now: deps.now(),
      });
      deps.metrics.flowRunsStarted.inc({ trigger: 'manual' });
      res.status(201).json(run);
    }),
  );

  return router;
}
