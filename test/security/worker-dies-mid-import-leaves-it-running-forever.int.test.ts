import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop, type ShopFixture } from '../factories';
import { sessionToken } from '../session-token';
import { importContacts } from '../../domain/contacts/import-contacts';
import { runReconciliation } from '../../domain/reconciliation/run-reconciliation';
import type { WorkerDeps } from '../../apps/worker/src/deps';

// The attack's aftermath: the worker died in the middle of an import (OOM)
// often enough that BullMQ gave up on the job, and the import stayed
// `running` forever with its raw rows stored. Reconciliation now resumes such
// an import (its job added again under its deterministic id; it continues
// from `processed`), or fails it once it has been started too often, deleting
// its staged rows in the same statement.

describe('a worker dying mid-import leaves the import running forever', () => {
  let env: TestEnv;
  let app: Express;
  let deps: WorkerDeps;
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_IMPORTS_PER_MIN: '1000' });
    ({ app } = await env.api());
    deps = env.workerDeps();
  });
  afterAll(async () => {
    await env.close();
  });

  const ROWS = 2_500;
  /** Runs after which an import is given up (IMPORT_MAX_ATTEMPTS). */
  const MAX_RUNS = 10;
  const submit = async (shop: ShopFixture) => {
    const res = await request(app)
      .post('/api/contacts/import')
      .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
      .set('Idempotency-Key', randomUUID())
      .send({ contacts: Array.from({ length: ROWS }, (_, i) => ({ phone: `+1201${4_000_000 + i}`, firstName: `P${i}` })) });
    expect(res.status).toBe(202);
    return res.body.importId as string;
  };
  /** `runs` runs that each die after their first chunk (of 100 rows); then BullMQ gives up on (and drops) the job, and the import goes quiet. */
  async function dieMidImport(importId: string, runs = 1): Promise<void> {
    for (let i = 0; i < runs; i++) {
      await expect(
        importContacts(env.db, {
          importId,
          chunkSize: 100,
          onProgress: () => {
            throw new Error('worker killed (OOM)');
          },
        }),
      ).rejects.toThrow('worker killed');
    }
    await (await deps.queues.get('imports').getJob(`import-${importId}`))?.remove();
    await env.db.$executeRaw`UPDATE contact_imports SET updated_at = now() - interval '5 minutes' WHERE id = ${importId}::uuid`;
  }
  const reconcile = () => runReconciliation({ ...deps, now: () => new Date() });
  const stateOf = async (importId: string) => {
    const [row] = await env.db.$queryRaw<{ status: string; processed: number; created: number; error: string | null }[]>`
      SELECT status, processed, created, error FROM contact_imports WHERE id = ${importId}::uuid`;
    return row!;
  };
  const staged = async (importId: string) =>
    Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_import_rows WHERE import_id = ${importId}::uuid`)[0]!.n);

  // First, while no worker runs (one would take the job before the simulated death is complete).
  it('an import started too often is failed by reconciliation, its staged rows deleted, and counted as import_failed', async () => {
    const shop = await createShop(env.db);
    const importId = await submit(shop);
    await dieMidImport(importId, MAX_RUNS);
    expect(await stateOf(importId)).toMatchObject({ status: 'running', processed: 100 * MAX_RUNS });

    const report = await reconcile();
    expect(report.repairs).toMatchObject({ import_failed: 1 });
    expect(await stateOf(importId)).toMatchObject({ status: 'failed', error: expect.stringMatching(/submit it again/) });
    expect(await staged(importId)).toBe(0);
    expect(await deps.metrics.registry.getSingleMetricAsString('reconciliation_repairs_total')).toMatch(/reconciliation_repairs_total\{kind="import_failed"\} 1/);
    // The shop is free to import again.
    await submit(shop);
  });

  it('reconciliation resumes it where it stopped: the job is added again and the import completes, each row counted once', async () => {
    const shop = await createShop(env.db);
    const importId = await submit(shop);
    await dieMidImport(importId);
    expect(await stateOf(importId)).toMatchObject({ status: 'running', processed: 100 });

    const report = await reconcile();
    expect(report.repairs).toMatchObject({ import_requeued: 1, import_failed: 0 });
    expect(await (await deps.queues.get('imports').getJob(`import-${importId}`))?.getState()).toBe('waiting');
    // A second pass finds the job live and repairs nothing.
    expect((await reconcile()).repairs).toMatchObject({ import_requeued: 0, import_failed: 0 });

    await env.worker({ queues: ['imports'] });
    for (let i = 0; (await stateOf(importId)).status === 'running' && i < 600; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await stateOf(importId)).toMatchObject({ status: 'completed', processed: ROWS, created: ROWS });
    expect(await staged(importId)).toBe(0);
  });
});
