import { createTestEnv, type TestEnv } from '../../test/harness';
import { jobIds } from '../../queue/job-ids';
import { JOB_QUEUE } from '../../queue/names';
import type { Producer } from '../../queue/producer';
import { createMetrics } from '../../lib/metrics';
import { readDbGauges } from '../ops/db-gauges';
import { countDeadOutbox, countPendingOutbox, dispatchOutbox, OUTBOX_RETRY, OutboxPassInterrupted } from './outbox';

// The dispatcher publishes each outbox row on its own: a row that fails
// (its payload refused by its job schema, or Redis unreachable) is recorded
// and retried with backoff; only a schema failure ever ends dead.

let env: TestEnv;
let deps: ReturnType<TestEnv['workerDeps']>;
beforeAll(async () => {
  env = await createTestEnv();
  deps = env.workerDeps();
});
afterAll(async () => {
  await env.close();
});
beforeEach(async () => {
  await env.db.$executeRaw`UPDATE outbox_events SET published_at = now(), dead_at = NULL WHERE published_at IS NULL`;
  await Promise.all(deps.queues.all().map((q) => q.obliterate({ force: true })));
});

interface Row {
  id: bigint;
  attempts: number;
  published_at: Date | null;
  next_attempt_at: Date | null;
  dead_at: Date | null;
  last_error: string | null;
}

let seq = 0;
/** A keyword.reply.v1 event (valid: its job only needs a reply id) written `agoMs` ago. */
async function validRow(agoMs: number): Promise<{ id: bigint; replyId: string }> {
  const replyId = String(900_000 + ++seq);
  const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, available_at, created_at)
    VALUES ('keyword.reply.v1', ${replyId}, ${JSON.stringify({ replyId })}::jsonb, ${new Date(Date.now() - agoMs)}, ${new Date(Date.now() - agoMs)})
    RETURNING id`;
  return { id: row!.id, replyId };
}

/** A contacts.import.v1 event whose payload the job schema refuses (ids that are not UUIDs), older than anything else. */
async function poisonRow(): Promise<bigint> {
  const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, available_at, created_at)
    VALUES ('contacts.import.v1', 'poison', '{"importId": "not-a-uuid", "shopId": "nor-this"}'::jsonb, now() - interval '1 hour', now() - interval '1 hour')
    RETURNING id`;
  return row!.id;
}

async function rowOf(id: bigint): Promise<Row> {
  const [row] = await env.db.$queryRaw<Row[]>`SELECT id, attempts, published_at, next_attempt_at, dead_at, last_error FROM outbox_events WHERE id = ${id}`;
  return row!;
}

async function replyJob(replyId: string) {
  return deps.queues.get(JOB_QUEUE['keyword.reply.v1']).getJob(jobIds.keywordReply(replyId));
}

/** The real producer, whose add rejects as an unreachable Redis does for the next `failures` calls. */
function redisDownFor(failures: number): Producer & { calls: number } {
  const p = {
    calls: 0,
    async add(...args: Parameters<Producer['add']>) {
      p.calls++;
      if (failures-- > 0) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
      return deps.producer.add(...args);
    },
    addBulk: deps.producer.addBulk.bind(deps.producer),
  };
  return p as Producer & { calls: number };
}

it('publishes the rows queued behind a poison row, and records the poison row for a retry', async () => {
  const poison = await poisonRow();
  const behind = await validRow(60_000);
  const metrics = createMetrics();
  const now = new Date();

  expect(await dispatchOutbox(env.db, deps.producer, { now, metrics, logger: deps.logger })).toBe(1);

  expect((await rowOf(behind.id)).published_at).not.toBeNull();
  expect(await replyJob(behind.replyId)).toBeDefined();
  const p = await rowOf(poison);
  expect(p).toMatchObject({ attempts: 1, published_at: null, dead_at: null });
  expect(p.last_error).toMatch(/^ZodError: importId: /);
  expect(p.last_error).not.toContain('not-a-uuid');
  expect(p.next_attempt_at!.getTime()).toBe(now.getTime() + OUTBOX_RETRY.baseMs);
  expect((await metrics.outboxPublishFailures.get()).values).toEqual([{ labels: { reason: 'schema' }, value: 1 }]);

  // Not due yet: the next pass skips it (no attempt recorded).
  expect(await dispatchOutbox(env.db, deps.producer, { now: new Date(now.getTime() + 1_000) })).toBe(0);
  expect((await rowOf(poison)).attempts).toBe(1);
});

it('sets a poison row aside as dead at its bound, after backing off; dead rows are counted apart and never selected again', async () => {
  const poison = await poisonRow();
  const metrics = createMetrics();
  let now = new Date();
  const delays: number[] = [];
  for (let i = 1; i <= OUTBOX_RETRY.deadAfterAttempts; i++) {
    await dispatchOutbox(env.db, deps.producer, { now, metrics });
    const r = await rowOf(poison);
    expect(r.attempts).toBe(i);
    if (i < OUTBOX_RETRY.deadAfterAttempts) {
      expect(r.dead_at).toBeNull();
      delays.push(r.next_attempt_at!.getTime() - now.getTime());
      now = r.next_attempt_at!;
    } else {
      expect(r.dead_at).toEqual(now);
    }
  }
  expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
  expect((await metrics.outboxPublishFailures.get()).values).toEqual([{ labels: { reason: 'schema' }, value: OUTBOX_RETRY.deadAfterAttempts }]);

  // Dead: never tried again, whatever the time, and a valid row still goes.
  const later = await validRow(0);
  expect(await dispatchOutbox(env.db, deps.producer, { now: new Date(now.getTime() + 86_400_000) })).toBe(1);
  expect((await rowOf(poison)).attempts).toBe(OUTBOX_RETRY.deadAfterAttempts);
  expect((await rowOf(later.id)).published_at).not.toBeNull();

  expect(await countDeadOutbox(env.db)).toBe(1);
  expect(await countPendingOutbox(env.db)).toBe(0);
  const gauges = await readDbGauges(env.db, now, now);
  expect(gauges).toMatchObject({ outboxDead: 1, outboxPending: 0 });

  // Replayed after a fix (docs/runbooks/outbox.md): back in the dispatcher's scan.
  await env.db.$executeRaw`UPDATE outbox_events SET dead_at = NULL, next_attempt_at = NULL, attempts = 0, last_error = NULL WHERE id = ${poison} AND dead_at IS NOT NULL`;
  expect(await countPendingOutbox(env.db)).toBe(1);
  expect(await countDeadOutbox(env.db)).toBe(0);
});

it('a publish failing because Redis is unreachable stops the pass and leaves the row pending for a retry, never dead', async () => {
  const first = await validRow(120_000);
  const second = await validRow(60_000);
  const metrics = createMetrics();
  const now = new Date();

  const down = redisDownFor(1);
  const err: unknown = await dispatchOutbox(env.db, down, { now, metrics, logger: deps.logger }).then(() => 'resolved', (e: unknown) => e);
  expect(err).toBeInstanceOf(OutboxPassInterrupted);
  expect((err as OutboxPassInterrupted).outboxId).toBe(first.id);
  // Stopped at the first failure: the second row was not tried (nor marked failed).
  expect(down.calls).toBe(1);
  const f = await rowOf(first.id);
  expect(f).toMatchObject({ attempts: 1, published_at: null, dead_at: null });
  expect(f.last_error).toContain('ECONNREFUSED');
  expect(f.next_attempt_at!.getTime()).toBe(now.getTime() + OUTBOX_RETRY.baseMs);
  expect(await rowOf(second.id)).toMatchObject({ attempts: 0, published_at: null, next_attempt_at: null, last_error: null });
  expect((await metrics.outboxPublishFailures.get()).values).toEqual([{ labels: { reason: 'error' }, value: 1 }]);

  // Redis back: the next pass publishes the row not backed off, the one after its retry time the other.
  expect(await dispatchOutbox(env.db, down, { now })).toBe(1);
  expect((await rowOf(second.id)).published_at).not.toBeNull();
  expect(await dispatchOutbox(env.db, down, { now: new Date(now.getTime() + OUTBOX_RETRY.baseMs) })).toBe(1);
  expect(await rowOf(first.id)).toMatchObject({ attempts: 2, dead_at: null, next_attempt_at: null });
  expect(await replyJob(first.replyId)).toBeDefined();
});

it('a valid row failing transiently on more attempts than the dead bound is still never set aside', async () => {
  const row = await validRow(60_000);
  const down = redisDownFor(Number.POSITIVE_INFINITY);
  let now = new Date();
  for (let i = 0; i < OUTBOX_RETRY.deadAfterAttempts + 2; i++) {
    await expect(dispatchOutbox(env.db, down, { now })).rejects.toBeInstanceOf(OutboxPassInterrupted);
    now = (await rowOf(row.id)).next_attempt_at!;
  }
  expect(await rowOf(row.id)).toMatchObject({ attempts: OUTBOX_RETRY.deadAfterAttempts + 2, dead_at: null, published_at: null });
  expect(await countDeadOutbox(env.db)).toBe(0);
  expect(await dispatchOutbox(env.db, deps.producer, { now })).toBe(1);
});

/** The real producer, whose add waits until `n` callers have reached it (concurrent passes trying the same row at once). */
function rendezvous(n: number): Producer {
  let arrived = 0;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return {
    async add(...args: Parameters<Producer['add']>) {
      if (++arrived >= n) open();
      await gate;
      return deps.producer.add(...args);
    },
    addBulk: deps.producer.addBulk.bind(deps.producer),
  } as Producer;
}

it('two passes trying the same row at once (the dispatcher and reconciliation) count one attempt: the row is not set aside before its bound', async () => {
  const poison = await poisonRow();
  let now = new Date();
  for (let round = 1; round <= OUTBOX_RETRY.deadAfterAttempts; round++) {
    const producer = rendezvous(2);
    await Promise.all([dispatchOutbox(env.db, producer, { now }), dispatchOutbox(env.db, producer, { now })]);
    const r = await rowOf(poison);
    expect({ round, attempts: r.attempts, dead: r.dead_at !== null }).toEqual({ round, attempts: round, dead: round === OUTBOX_RETRY.deadAfterAttempts });
    if (r.next_attempt_at) now = r.next_attempt_at;
  }
});
