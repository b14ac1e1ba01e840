import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jobIds } from '../queue/job-ids';
import { freePort } from '../scripts/lib/stack';
import { portOpen, startService, waitForOk, type ServiceName, type ServiceProcess } from '../scripts/lib/service-process';
import { createContactsBulk, createShop } from './factories';
import { createTestEnv, type TestEnv } from './harness';
import { disableQuietHours, queuedCampaign, recipientCounts, SIM_API_KEY, startSimulator, waitFor } from './sending';
import { sessionToken } from './session-token';
import type { SimulatorHandle } from '../apps/sms-simulator/src/simulator';

// SIGTERM on the real processes (as `npm run start:*` runs them, through tsx
// here so no build is needed; the CI build check signals the compiled ones):
// the api finishes the request it is serving and refuses new connections, the
// worker finishes the job it is running and takes no new one, and both exit 0;
// past SHUTDOWN_TIMEOUT_MS the stop is forced, still with exit 0.

const DRAIN_MS = 3_000;

let env: TestEnv;
let sim: SimulatorHandle;
let simUrl: string;

beforeAll(async () => {
  ({ sim, url: simUrl } = await startSimulator());
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
  await sim.stop();
});

const started: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

function launch(name: ServiceName, vars: Record<string, string>): ServiceProcess {
  const inherited = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const svc = startService(name, {
    ...inherited,
    DATABASE_URL: env.config.DATABASE_URL,
    REDIS_URL: env.config.REDIS_URL,
    QUEUE_PREFIX: env.prefix,
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: String(DRAIN_MS),
    ...vars,
  });
  started.push(svc);
  return svc;
}

/** The pino line with this msg, once the process has written it. */
async function logged(svc: ServiceProcess, msg: string): Promise<void> {
  await waitFor(`"${msg}" in the log`, () => svc.output().includes(`"msg":"${msg}"`), 10_000, 20);
}

/**
 * A POST whose head is sent and whose body is held back: the request is in
 * flight once the server answers `100 Continue` (only a route about to read
 * its body does that, after authentication), and ends when `finish()` sends
 * the body.
 */
function heldPost(port: number, path: string, headers: Record<string, string>, body: string) {
  const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), expect: '100-continue' } });
  const response = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const continued = new Promise<void>((resolve) => req.once('continue', () => resolve()));
  req.flushHeaders();
  return { continued, response, finish: () => req.end(body) };
}

describe('api: SIGTERM', () => {
  it('finishes the in-flight request (and closes its connection), refuses new connections, exits 0 without waiting for the bound', async () => {
    const shop = await createShop(env.db);
    const port = await freePort();
    const api = launch('api', { PORT: String(port) });
    await waitForOk(api, `http://127.0.0.1:${port}/health`);

    const post = heldPost(port, '/api/contacts', { authorization: `Bearer ${await sessionToken(shop.domain)}` }, JSON.stringify({ phone: '+14155550123', firstName: 'Drained' }));
    await post.continued;
    api.signal('SIGTERM');
    await logged(api, 'api draining');

    expect(await portOpen(port)).toBe(false);
    post.finish();
    const res = await post.response;
    expect(res.status).toBe(201);
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(res.body)).toMatchObject({ firstName: 'Drained' });
    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contacts WHERE shop_id = ${shop.id}::uuid AND first_name = 'Drained'`;
    expect(Number(row?.n)).toBe(1);

    expect(await api.exited).toEqual({ code: 0, signal: null });
    expect(api.output()).toContain('"msg":"api stopped"');
    expect(api.output()).not.toContain('drain timed out');
  }, 60_000);

  it('past SHUTDOWN_TIMEOUT_MS closes a request that never completes and still exits 0', async () => {
    const shop = await createShop(env.db);
    const port = await freePort();
    const api = launch('api', { PORT: String(port) });
    await waitForOk(api, `http://127.0.0.1:${port}/health`);

    const stalled = heldPost(port, '/api/contacts', { authorization: `Bearer ${await sessionToken(shop.domain)}` }, JSON.stringify({ phone: '+14155550124' }));
    const outcome = stalled.response.then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await stalled.continued;
    const signalledAt = Date.now();
    api.signal('SIGTERM');

    expect(await api.exited).toEqual({ code: 0, signal: null });
    // It waited for the request for the whole bound, then cut it.
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(api.output()).toContain('drain timed out');
    expect(await outcome).toBe('ECONNRESET');
  }, 60_000);
});

/**
 * The provider behind a gate: sends reach the simulator only once `open()`
 * is called; until then they wait here (in flight in the worker).
 */
async function gatedProvider(target: string) {
  const waiting: (() => void)[] = [];
  let opened = false;
  let arrived = 0;
  const server = http.createServer((req, res) => {
    arrived++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = (): void => {
        void fetch(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers as Record<string, string>, body: chunks.length ? Buffer.concat(chunks) : undefined })
          .then(async (r) => {
            res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
            res.end(Buffer.from(await r.arrayBuffer()));
          })
          .catch(() => res.destroy());
      };
      if (opened) forward();
      else waiting.push(forward);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived: () => arrived,
    open() {
      opened = true;
      for (const f of waiting.splice(0)) f();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('worker: SIGTERM', () => {
  async function campaignOf(n: number) {
    const shop = await createShop(env.db, { credits: 10_000 });
    await disableQuietHours(env.db, shop.id);
    await createContactsBulk(env.db, shop.id, n);
    return { shopId: shop.id, ...(await queuedCampaign(env.db, shop.id)) };
  }

  async function startWorker(providerUrl: string): Promise<ServiceProcess> {
    const port = await freePort();
    const worker = launch('worker', {
      WORKER_METRICS_PORT: String(port),
      WORKER_QUEUES: 'campaigns,sends',
      SMS_PROVIDER: 'simulator',
      SMS_PROVIDER_URL: providerUrl,
      SMS_PROVIDER_API_KEY: SIM_API_KEY,
    });
    await waitForOk(worker, `http://127.0.0.1:${port}/health`);
    return worker;
  }

  it('finishes the in-flight send batch, takes no new job, exits 0', async () => {
    const gate = await gatedProvider(simUrl);
    const producer = env.workerDeps().producer;
    try {
      const first = await campaignOf(20);
      const second = await campaignOf(20);
      const worker = await startWorker(gate.url);

      await producer.add('campaign.launch.v1', { traceId: 't-first', campaignId: first.id, shopId: first.shopId }, { jobId: jobIds.launch(first.id) });
      await waitFor('the batch at the provider', () => gate.arrived() > 0);
      worker.signal('SIGTERM');
      await logged(worker, 'worker stopping');
      await producer.add('campaign.launch.v1', { traceId: 't-second', campaignId: second.id, shopId: second.shopId }, { jobId: jobIds.launch(second.id) });
      gate.open();

      expect(await worker.exited).toEqual({ code: 0, signal: null });
      expect(worker.output()).toContain('"msg":"worker stopped"');
      // The batch in flight at SIGTERM completed: every recipient of it was sent.
      expect(await recipientCounts(env.db, first.id)).toEqual({ sent: 20 });
      // The job added after SIGTERM waits for another worker.
      expect(await env.workerDeps().queues.get('campaigns').getJobState(jobIds.launch(second.id))).toBe('waiting');
      expect(await recipientCounts(env.db, second.id)).toEqual({});
    } finally {
      gate.open();
      await gate.close();
    }
  }, 60_000);

  it('past SHUTDOWN_TIMEOUT_MS abandons a job that never finishes (its lock expires, it is retried elsewhere) and exits 0', async () => {
    const gate = await gatedProvider(simUrl);
    const producer = env.workerDeps().producer;
    try {
      const stuck = await campaignOf(5);
      const worker = await startWorker(gate.url);
      await producer.add('campaign.launch.v1', { traceId: 't-stuck', campaignId: stuck.id, shopId: stuck.shopId }, { jobId: jobIds.launch(stuck.id) });
      await waitFor('the batch at the provider', () => gate.arrived() > 0);
      const signalledAt = Date.now();
      worker.signal('SIGTERM');

      expect(await worker.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(DRAIN_MS);
      expect(worker.output()).toContain('drain timed out; in-flight jobs abandoned');
      // Nothing was recorded as sent: the batch stays for its retry.
      expect((await recipientCounts(env.db, stuck.id)).sent).toBeUndefined();
    } finally {
      gate.open();
      await gate.close();
    }
  }, 60_000);
});
