import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop, type ShopFixture } from '../factories';
import { sessionToken } from '../session-token';
import { startWorkerProcess, type WorkerProcess } from '../worker-process';

// The attack: four merchants each post a maximum-size import at once (50 000
// rows of 20 columns, ~10 MiB of JSON: what the request validation accepts).
// The job used to load an import's whole `rows` jsonb into memory; four at a
// time took the worker past its 192 MB heap: it died of OOM, restarted, died
// again, the imports stayed `running` forever with their raw rows stored, and
// sends and webhooks of that worker stopped meanwhile.

const ROWS = 50_000;
const BODY_LIMIT = 10 * 1024 * 1024;

/**
 * Row i: a valid number plus 19 junk columns of tiny arrays (the most heap per
 * byte of JSON the request validation lets through: every `[0,0]` becomes an
 * array object); every tenth row is a plain, valid contact instead.
 */
function maxSizeImport(): { contacts: Record<string, unknown>[] } {
  const contacts = Array.from({ length: ROWS }, (_, i) => {
    const phone = `+1201${2_000_000 + i}`;
    if (i % 10 === 0) return { phone, firstName: `First${i}`.padEnd(40, 'f'), lastName: `Last${i}`, tags: ['imported'] };
    const row: Record<string, unknown> = { phone };
    for (let c = 0; c < 19; c++) row[String.fromCharCode(97 + c)] = [0, 0];
    return row;
  });
  return { contacts };
}

describe('four maximum-size contact imports crash the shared worker', () => {
  let env: TestEnv;
  let app: Express;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    env = await createTestEnv({ LOG_LEVEL: 'warn' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await worker?.stop();
    await env.close();
  });

  it('the worker survives its 192 MB heap cap, every import ends and no staged row is left', async () => {
    const body = maxSizeImport();
    const size = Buffer.byteLength(JSON.stringify(body));
    expect(size).toBeGreaterThan(0.9 * BODY_LIMIT);
    expect(size).toBeLessThanOrEqual(BODY_LIMIT);

    const shops: ShopFixture[] = [];
    for (let i = 0; i < 4; i++) shops.push(await createShop(env.db));

    const accepted = await Promise.all(
      shops.map(async (shop) =>
        request(app)
          .post('/api/contacts/import')
          .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
          .set('Idempotency-Key', randomUUID())
          .send(body),
      ),
    );
    for (const res of accepted) expect([res.status, res.body]).toEqual([202, { importId: expect.any(String), status: 'queued' }]);

    // Started once all four are queued, so it takes them on together.
    worker = await startWorkerProcess(env);
    // Every import ends (or the worker dies trying): poll the status the merchant sees.
    const ended = new Map<string, { status: string; processed: number; created: number; updated: number; rejectedCount?: number }>();
    const deadline = Date.now() + 90_000;
    let peakKb = 0;
    while (ended.size < 4 && !worker.exit() && Date.now() < deadline) {
      peakKb = Math.max(peakKb, worker.peakRssKb());
      for (const [i, res] of accepted.entries()) {
        if (ended.has(res.body.importId)) continue;
        const st = await request(app).get(`/api/contacts/imports/${res.body.importId}`).set('Authorization', `Bearer ${await sessionToken(shops[i]!.domain)}`);
        if (st.body.status === 'completed' || st.body.status === 'failed') ended.set(res.body.importId, st.body);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    peakKb = Math.max(peakKb, worker.peakRssKb());
    // eslint-disable-next-line no-console -- the measured figure is what the report quotes
    console.log(`worker peak RSS (VmHWM) during four maximum-size imports: ${Math.round(peakKb / 1024)} MB; exit: ${JSON.stringify(worker.exit() ?? null)}`);

    expect({ exit: worker.exit() ?? null, tail: worker.exit() ? worker.output().slice(-2_000) : '' }).toEqual({ exit: null, tail: '' });
    expect(ended.size).toBe(4);
    for (const imp of ended.values()) {
      expect(imp).toMatchObject({ status: 'completed', processed: ROWS, created: ROWS / 10, updated: 0, rejectedCount: ROWS - ROWS / 10 });
    }
    const [staged] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_import_rows`;
    expect(Number(staged!.n)).toBe(0);
  }, 150_000);
});
