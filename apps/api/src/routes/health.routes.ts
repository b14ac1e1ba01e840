import { Router } from 'express';
import { checkHealth } from '../health';
import type { ApiDeps } from '../deps';
import { EXACT_ROUTING } from '../router-options';

export function healthRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  // Liveness: the process can serve. Dependencies are /health/full's business.
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/health/full', async (_req, res) => {
    const report = await checkHealth(deps);
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  });
  return router;
}
