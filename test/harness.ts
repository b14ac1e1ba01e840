import type { Express } from 'express';
import { Writable } from 'node:stream';
import { createApp } from '../apps/api/src/app';
import { buildApiDeps, closeApiDeps } from '../apps/api/src/build-deps';
import type { ApiDeps } from '../apps/api/src/deps';
import { parseConfig, type Config } from '../lib/config';
import { createDb, type Db } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createMetrics } from '../lib/metrics';
import { waitForRedis } from '../lib/redis';
import { createTestDatabase, dropTestDatabase, testRedisPrefix } from './db';
import { simulatorProvider, startSimulator } from './sending';
import type { SimulatorHandle } from '../apps/sms-simulator/src/simulator';
import type { MittoProvider } from '../domain/messaging/providers';
import { buildWorkerDeps, closeWorkerDeps } from '../apps/worker/src/build-deps';
import type { WorkerDeps } from '../apps/worker/src/deps';
import { HANDLERS } from '../apps/worker/src/registry';
import type { JobHandler } from '../apps/worker/src/processors/types';
import { startWorkers, type WorkerHost, type WorkerHostOptions } from '../apps/worker/src/worker-host';
import { ALL_QUEUES, type QueueName } from '../queue/names';

/** Captures every log line a test's processes write (the redaction tests read them). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TestEnv {
  config: Config;
  db: Db;
  dbName: string;
  prefix: string;
  logs: LogCapture;
  /** A fresh api (deps + app); several may be made, all closed by close(). */
  api(overrides?: Partial<ApiDeps>): Promise<{ app: Express; deps: ApiDeps }>;
  /** Worker deps (producer/queues on a blocking connection) without starting workers. */
  workerDeps(overrides?: Partial<WorkerDeps>): WorkerDeps;
  /** Starts real BullMQ workers for these queues (default all) with the real handlers. */
  worker(opts?: { queues?: QueueName[]; handlers?: JobHandler[]; overrides?: Partial<WorkerDeps>; host?: WorkerHostOptions }): Promise<{ host: WorkerHost; deps: WorkerDeps }>;
  close(): Promise<void>;
}

/**
 * One isolated environment per test file: its own database (cloned from the
 * migrated template) and its own Redis key prefix, so files run in parallel.
 */
export async function createTestEnv(env: Record<string, string> = {}): Promise<TestEnv> {
  const { name, url } = await createTestDatabase();
  const prefix = testRedisPrefix();
  const config = parseConfig({ ...process.env, DATABASE_URL: url, QUEUE_PREFIX: prefix, DATABASE_POOL_SIZE: '5', ...env });
  const logs = new LogCapture();
  // Captured lines are for assertions; LOG_LEVEL in `env` raises or lowers what is kept.
  const logLevel = env.LOG_LEVEL ?? 'info';
  const db = createDb(config);
  const apis: ApiDeps[] = [];
  const workers: { host?: WorkerHost; deps: WorkerDeps }[] = [];
  const makeWorkerDeps = (overrides: Partial<WorkerDeps> = {}): WorkerDeps => {
    const deps = buildWorkerDeps(overrides.config ?? config, { logger: createLogger({ level: logLevel, name: 'worker' }, logs), metrics: createMetrics(), ...overrides });
    workers.push({ deps });
    return deps;
  };
  return {
    config,
    db,
    dbName: name,
    prefix,
    logs,
    async api(overrides = {}) {
      const deps = await buildApiDeps(overrides.config ?? config, {
        logger: createLogger({ level: logLevel, name: 'api' }, logs),
        metrics: createMetrics(),
        ...overrides,
      });
      apis.push(deps);
      // The producer connection refuses commands until it is ready (fail fast
      // in production); tests start from a connected client.
      if (!overrides.redis) await waitForRedis(deps.redis).catch(() => undefined);
      return { app: createApp(deps), deps };
    },
    workerDeps: makeWorkerDeps,
    async worker(opts = {}) {
      const deps = makeWorkerDeps(opts.overrides);
      const host = startWorkers(deps, opts.queues ?? ALL_QUEUES, opts.handlers ?? HANDLERS, opts.host);
      await Promise.all(host.workers.map((w) => w.waitUntilReady()));
      workers[workers.length - 1]!.host = host;
      return { host, deps };
    },
    async close() {
      for (const w of workers) {
        await w.host?.close(2_000);
        await Promise.all(w.deps.queues.all().map((q) => q.obliterate({ force: true }).catch(() => undefined)));
        await closeWorkerDeps(w.deps);
      }
      for (const deps of apis) {
        await Promise.all(deps.queues.all().map((q) => q.obliterate({ force: true }).catch(() => undefined)));
        await closeApiDeps(deps);
      }
      await db.$disconnect();
      await dropTestDatabase(name);
    },
  };
}

/**
 * The usual set-up of a test file: one environment made before its tests
 * (with worker deps ready) and closed after them. Read it inside tests:
 * `const t = useTestEnv(); … t.env.db, t.deps`.
 */
export function useTestEnv(vars: Record<string, string> = {}): { env: TestEnv; deps: WorkerDeps } {
  const ctx = {} as { env: TestEnv; deps: WorkerDeps };
  beforeAll(async () => {
    ctx.env = await createTestEnv(vars);
    ctx.deps = ctx.env.workerDeps();
  });
  afterAll(async () => {
    await ctx.env?.close();
  });
  return ctx;
}

/**
 * The webhook tests' set-up: one environment per file with the api's app and
 * a worker draining the webhooks queue, closed after the file's tests. Read
 * it inside tests: `const t = useWebhookStack(); … t.app, t.env.db`.
 */
export function useWebhookStack(): { env: TestEnv; app: Express } {
  const ctx = {} as { env: TestEnv; app: Express };
  beforeAll(async () => {
    ctx.env = await createTestEnv();
    ({ app: ctx.app } = await ctx.env.api());
    await ctx.env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await ctx.env?.close();
  });
  return ctx;
}

/**
 * A test environment, its worker deps (no worker running) and a simulator
 * with a provider pointed at it, reset before each test: the set-up of the
 * send-path tests that drive launch and send by hand. Read the fields
 * inside tests: `const t = useSimulatedSends(); … t.env.db, t.provider`.
 */
export function useSimulatedSends(): { env: TestEnv; worker: WorkerDeps; sim: SimulatorHandle; provider: MittoProvider } {
  const ctx = {} as { env: TestEnv; worker: WorkerDeps; sim: SimulatorHandle; provider: MittoProvider };
  beforeAll(async () => {
    ctx.env = await createTestEnv();
    ctx.worker = ctx.env.workerDeps();
    const started = await startSimulator();
    ctx.sim = started.sim;
    ctx.provider = simulatorProvider(started.url);
  });
  afterAll(async () => {
    ctx.provider?.close();
    await ctx.sim?.stop();
    await ctx.env?.close();
  });
  beforeEach(() => ctx.sim.reset());
  return ctx;
}

