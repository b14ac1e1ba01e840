import { Router } from 'express';
import { cachedHealth } from '../health';
import type { ApiDeps } from '../deps';
import { EXACT_ROUTING } from '../router-options';

export function healthRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  // Liveness: the process can serve. Dependencies are /health/full's business.
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const fullReport = cachedHealth(deps);
  router.get('/health/full', async (_req, res) => {
    const report = await fullReport();
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  });
  return router;
}
