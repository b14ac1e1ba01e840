import express from 'express';
import type { Server } from 'node:http';
import { AppError } from '../../../lib/errors';
import { scrapeMetrics } from '../../../lib/metrics-endpoint';
import { scrapeRefresher } from '../../../domain/ops/scrape-refresher';
import type { WorkerDeps } from './deps';
import type { WorkerHost } from './worker-host';

/** The worker's own /health and /metrics (WORKER_METRICS_PORT). */
export function createOpsApp(deps: WorkerDeps, host: () => WorkerHost | undefined): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/health', (_req, res) => {
    const workers = host()?.workers ?? [];
    const running = workers.filter((w) => w.isRunning()).length;
    res.status(running === workers.length && workers.length > 0 ? 200 : 503).json({
      status: running === workers.length && workers.length > 0 ? 'ok' : 'down',
      workers: workers.map((w) => ({ queue: w.name, running: w.isRunning() })),
    });
  });
  const metrics = { registry: deps.metrics.registry, token: deps.config.METRICS_TOKEN, beforeScrape: scrapeRefresher(deps) };
  app.get('/metrics', async (req, res) => {
    const scrape = await scrapeMetrics(metrics, req.get('authorization'));
    if (!scrape) {
      // The status comes from the one error table, as the api's handler would choose it.
      const err = new AppError('UNAUTHENTICATED', 'Metrics token required');
      res.status(err.status).json({ error: { code: err.code, message: err.message } });
      return;
    }
    res.setHeader('Content-Type', scrape.contentType);
    res.send(scrape.body);
  });
  return app;
}

export function listenOps(app: express.Express, port: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(port, () => resolve(server));
  });
}
