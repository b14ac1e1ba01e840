import { createMittoProvider, type MittoProvider } from '../../../domain/messaging/providers/mitto';
import {
  ProviderRateLimitedError,
  ProviderRequestError,
  ProviderUnavailableError,
  type OutboundMessage,
  type SendResult,
} from '../../../domain/messaging/providers/provider';
import { verifySimulatorSignature } from '../../../domain/messaging/providers/simulator-signature';
import { createSimulator, type SimulatorHandle, type SimulatorOptions } from './simulator';
import { startCallbackRecorder, type CallbackRecorder } from './test-callback-recorder';

// The Mitto adapter against the simulator, end to end over real sockets: this is
// the contract the send pipeline relies on.

const API_KEY = 'test-api-key';
const SECRET = 'test-webhook-secret';

function outbound(count: number, prefix: string): OutboundMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    reference: `${prefix}-${i}`,
    to: `+4917${String(i).padStart(8, '0')}`,
    text: `Hello ${i}`,
    from: 'MyShop',
    encoding: 'GSM-7',
  }));
}

function acceptedIds(results: SendResult[]): string[] {
  return results.map((r) => {
    if (r.outcome !== 'accepted') throw new Error(`expected accepted, got ${JSON.stringify(r)}`);
    return r.providerMessageId;
  });
}

async function startPair(
  options: SimulatorOptions = {},
  providerOptions: { timeoutMs?: number; apiKey?: string; dedupsByReference?: boolean } = {},
): Promise<{ sim: SimulatorHandle; provider: MittoProvider; url: string; stop: () => Promise<void> }> {
  const sim = createSimulator({ apiKey: API_KEY, webhookSecret: SECRET, dlrEnabled: false, ...options });
  const { url } = await sim.start(0);
  const provider = createMittoProvider({
    baseUrl: url,
    apiKey: providerOptions.apiKey ?? API_KEY,
    name: 'simulator',
    timeoutMs: providerOptions.timeoutMs ?? 5_000,
    dedupsByReference: providerOptions.dedupsByReference,
  });
  return {
    sim,
    provider,
    url,
    stop: async () => {
      provider.close();
      await sim.stop();
    },
  };
}

describe('mitto adapter against the simulator', () => {
  let pair: Awaited<ReturnType<typeof startPair>>;
  beforeEach(async () => {
    pair = await startPair();
  });
  afterEach(async () => {
    await pair.stop();
  });

  it('sends 2 500 messages in bulk: all accepted, unique ids, exact stats', async () => {
    const messages = outbound(2500, 'bulk');
    const results = await pair.provider.sendBatch(messages, { traceId: 'trace-bulk' });

    expect(results.map((r) => r.reference)).toEqual(messages.map((m) => m.reference));
    const ids = acceptedIds(results);
    expect(new Set(ids).size).toBe(2500);
    expect(pair.sim.stats()).toEqual({
      requests: 3, // 1000 + 1000 + 500
      messagesAccepted: 2500,
      uniqueReferences: 2500,
      duplicatesSuppressed: 0,
      duplicatesSent: 0,
    });
  });

  it('re-sending the same references returns the same ids and sends nothing new', async () => {
    const messages = outbound(2500, 'dedup');
    const first = acceptedIds(await pair.provider.sendBatch(messages, { traceId: 't1' }));
    const second = acceptedIds(await pair.provider.sendBatch(messages, { traceId: 't2' }));

    expect(second).toEqual(first);
    expect(pair.sim.stats()).toMatchObject({ messagesAccepted: 2500, uniqueReferences: 2500, duplicatesSuppressed: 2500 });
    expect(pair.sim.referenceStats('dedup-7')).toEqual({
      reference: 'dedup-7',
      sends: 1,
      duplicates: 1,
      providerId: first[7],
    });
  });

  it('uses /sms for a single message', async () => {
    const [message] = outbound(1, 'single') as [OutboundMessage];
    const results = await pair.provider.sendBatch([{ ...message, text: 'Grüße 👋', encoding: 'UCS-2' }], {
      traceId: 'trace-single',
    });
    expect(results).toEqual([{ reference: 'single-0', outcome: 'accepted', providerMessageId: expect.any(String) }]);
    expect(pair.sim.tracesFor('single-0').requests.map((r) => r.path)).toEqual(['/sms']);
  });

  it('rejects an invalid number permanently, without failing the rest of the batch', async () => {
    const messages = outbound(3, 'mixed');
    (messages[1] as OutboundMessage).to = '+12';
    const results = await pair.provider.sendBatch(messages, { traceId: 't' });

    expect(results[0]?.outcome).toBe('accepted');
    expect(results[1]).toEqual({ reference: 'mixed-1', outcome: 'rejected', code: 'invalid_receiver', permanent: true });
    expect(results[2]?.outcome).toBe('accepted');
    expect(pair.sim.stats().messagesAccepted).toBe(2);

    const single = await pair.provider.sendBatch([{ ...(messages[1] as OutboundMessage), reference: 'alone' }], {
      traceId: 't',
    });
    expect(single).toEqual([{ reference: 'alone', outcome: 'rejected', code: 'invalid_receiver', permanent: true }]);
  });

  it('errorRate 1 → ProviderUnavailableError and nothing accepted', async () => {
    pair.sim.setFaults({ errorRate: 1 });
    await expect(pair.provider.sendBatch(outbound(10, 'err'), { traceId: 't' })).rejects.toBeInstanceOf(
      ProviderUnavailableError,
    );
    expect(pair.sim.stats()).toMatchObject({ requests: 1, messagesAccepted: 0, uniqueReferences: 0 });
  });

  it('rateLimitRate 1 → ProviderRateLimitedError carrying Retry-After', async () => {
    pair.sim.setFaults({ rateLimitRate: 1 });
    const error: unknown = await pair.provider.sendBatch(outbound(10, 'rl'), { traceId: 't' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRateLimitedError);
    expect((error as ProviderRateLimitedError).retryAfterMs).toBe(1000);
    expect(pair.sim.stats().messagesAccepted).toBe(0);
  });

  it('accept-then-hang: every result is unknown, yet the simulator did accept them; a re-send is deduplicated', async () => {
    await pair.stop();
    pair = await startPair({}, { timeoutMs: 300, dedupsByReference: true });
    pair.sim.setFaults({ hangRate: 1 });
    const messages = outbound(50, 'hang');

    const started = Date.now();
    const results = await pair.provider.sendBatch(messages, { traceId: 't' });
    expect(Date.now() - started).toBeLessThan(3_000);
    for (const r of results) expect(r).toEqual({ reference: r.reference, outcome: 'unknown', reason: 'timeout_after_send' });
    expect(pair.sim.stats()).toMatchObject({ messagesAccepted: 50, uniqueReferences: 50 });

    // dedupsByReference is why the caller may re-send an unknown outcome safely.
    expect(pair.provider.dedupsByReference).toBe(true);
    pair.sim.setFaults({});
    const again = acceptedIds(await pair.provider.sendBatch(messages, { traceId: 't' }));
    expect(again[0]).toBe(pair.sim.referenceStats('hang-0').providerId);
    expect(pair.sim.stats()).toMatchObject({ messagesAccepted: 50, duplicatesSuppressed: 50 });
  });

  it('without dedup by reference in the simulator, a re-send of a hung batch is a second SMS each: why nothing is re-sent by default', async () => {
    await pair.stop();
    pair = await startPair({ dedupsByReference: false }, { timeoutMs: 300 });
    expect(pair.provider.dedupsByReference).toBe(false);
    pair.sim.setFaults({ hangRate: 1 });
    const messages = outbound(5, 'twice');
    for (const r of await pair.provider.sendBatch(messages, { traceId: 't' })) expect(r.outcome).toBe('unknown');
    pair.sim.setFaults({});
    const again = acceptedIds(await pair.provider.sendBatch(messages, { traceId: 't' }));
    expect(again[0]).not.toBe(pair.sim.referenceStats('twice-0').providerId);
    expect(pair.sim.stats()).toMatchObject({ messagesAccepted: 10, uniqueReferences: 5, duplicatesSuppressed: 0, duplicatesSent: 5 });
    expect(pair.sim.referenceStats('twice-0')).toMatchObject({ sends: 2, duplicates: 0 });
  });

  it('a single hung message is unknown too', async () => {
    await pair.stop();
    pair = await startPair({}, { timeoutMs: 200 });
    pair.sim.setFaults({ hangRate: 1 });
    const results = await pair.provider.sendBatch(outbound(1, 'hang1'), { traceId: 't' });
    expect(results).toEqual([{ reference: 'hang1-0', outcome: 'unknown', reason: 'timeout_after_send' }]);
    expect(pair.sim.stats().messagesAccepted).toBe(1);
  });

  it('latency under the timeout only slows the call down', async () => {
    pair.sim.setFaults({ latencyMs: 150 });
    const started = Date.now();
    acceptedIds(await pair.provider.sendBatch(outbound(5, 'slow'), { traceId: 't' }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('a wrong API key is a thrown ProviderRequestError (401), nothing accepted', async () => {
    const wrong = createMittoProvider({ baseUrl: pair.url, apiKey: 'nope', name: 'simulator' });
    try {
      const error: unknown = await wrong.sendBatch(outbound(3, 'auth'), { traceId: 't' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderRequestError);
      expect((error as ProviderRequestError).status).toBe(401);
      expect((error as ProviderRequestError).retryable).toBe(false);
    } finally {
      wrong.close();
    }
    expect(pair.sim.stats().messagesAccepted).toBe(0);
  });

  it('connection refused → ProviderUnavailableError', async () => {
    const url = pair.url;
    await pair.stop();
    const orphan = createMittoProvider({ baseUrl: url, apiKey: API_KEY });
    try {
      await expect(orphan.sendBatch(outbound(2, 'down'), { traceId: 't' })).rejects.toBeInstanceOf(
        ProviderUnavailableError,
      );
    } finally {
      orphan.close();
    }
    pair = await startPair();
  });

  it('sends the trace id as X-Request-Id; the simulator can tell which traces carried a reference', async () => {
    await pair.provider.sendBatch(outbound(3, 'trace'), { traceId: 'trace-123' });
    await pair.provider.sendBatch(outbound(3, 'trace'), { traceId: 'trace-456' });
    const res = await fetch(`${pair.url}/_requests?reference=trace-1`);
    const body = (await res.json()) as { traceIds: string[]; requests: Array<{ path: string }> };
    expect(body.traceIds).toEqual(['trace-123', 'trace-456']);
    expect(body.requests.map((r) => r.path)).toEqual(['/smsbulk', '/smsbulk']);
  });

  it('reports each request outcome and duration', async () => {
    const seen: Array<[string, number]> = [];
    const observed = createMittoProvider({
      baseUrl: pair.url,
      apiKey: API_KEY,
      onRequest: (outcome, seconds) => seen.push([outcome, seconds]),
    });
    try {
      await observed.sendBatch(outbound(2, 'obs'), { traceId: 't' });
      pair.sim.setFaults({ rateLimitRate: 1 });
      await observed.sendBatch(outbound(2, 'obs2'), { traceId: 't' }).catch(() => undefined);
    } finally {
      observed.close();
    }
    expect(seen.map(([o]) => o)).toEqual(['ok', 'rate_limited']);
    for (const [, s] of seen) expect(s).toBeGreaterThanOrEqual(0);
  });
});

describe('delivery reports', () => {
  let recorder: CallbackRecorder;
  let pair: Awaited<ReturnType<typeof startPair>> | undefined;
  beforeEach(async () => {
    recorder = await startCallbackRecorder();
  });
  afterEach(async () => {
    await pair?.stop();
    pair = undefined;
    await recorder.close();
  });

  type Report = { id: string; reference?: string; status: string; errorCode?: string; timestamp: string };

  async function sendAndCollect(ratio: number, count: number, prefix: string): Promise<{ results: SendResult[]; reports: Report[] }> {
    pair = await startPair({
      dlrEnabled: true,
      dlrUrl: `${recorder.url}/webhooks/sms/simulator/status`,
      dlrDelayMs: 10,
      deliveredRatio: ratio,
      dlrConcurrency: 8,
    });
    const results = await pair.provider.sendBatch(outbound(count, prefix), { traceId: 't' });
    const callbacks = await recorder.waitFor(count);
    const nowSec = Math.floor(Date.now() / 1000);
    for (const cb of callbacks) {
      expect(cb.path).toBe('/webhooks/sms/simulator/status');
      expect(cb.headers['content-type']).toBe('application/json');
      expect(verifySimulatorSignature(SECRET, cb.headers['x-simulator-signature'], cb.rawBody, nowSec)).toBe(true);
      expect(verifySimulatorSignature('wrong', cb.headers['x-simulator-signature'], cb.rawBody, nowSec)).toBe(false);
    }
    return { results, reports: callbacks.map((cb) => JSON.parse(cb.rawBody) as Report) };
  }

  it('ratio 1: one signed "delivered" report per accepted message, matching id and reference', async () => {
    const { results, reports } = await sendAndCollect(1, 120, 'dlr-ok');
    const idByRef = new Map(results.map((r) => [r.reference, r.outcome === 'accepted' ? r.providerMessageId : '']));
    expect(reports).toHaveLength(120);
    for (const report of reports) {
      expect(report.status).toBe('delivered');
      expect(report.errorCode).toBeUndefined();
      expect(idByRef.get(report.reference ?? '')).toBe(report.id);
      expect(new Date(report.timestamp).toISOString()).toBe(report.timestamp);
    }
    expect(new Set(reports.map((r) => r.reference)).size).toBe(120);
  });

  it('ratio 0: every report is "failed" with an error code', async () => {
    const { reports } = await sendAndCollect(0, 40, 'dlr-fail');
    for (const report of reports) {
      expect(report.status).toBe('failed');
      expect(typeof report.errorCode).toBe('string');
    }
  });

  it('duplicates get no second report', async () => {
    const { results } = await sendAndCollect(1, 20, 'dlr-dup');
    await pair?.provider.sendBatch(outbound(20, 'dlr-dup'), { traceId: 't' });
    await new Promise((r) => setTimeout(r, 200));
    expect(recorder.received).toHaveLength(results.length);
    expect(pair?.sim.detail()).toMatchObject({ dlrQueued: 20, dlrPosted: 20, statusDelivered: 20 });
  });

  it('retries a report the receiver failed to take, with the same body', async () => {
    const attempts = new Map<string, string[]>();
    recorder.respondWith = (cb) => {
      const id = (JSON.parse(cb.rawBody) as Report).id;
      const seen = attempts.get(id) ?? [];
      seen.push(cb.rawBody);
      attempts.set(id, seen);
      return seen.length === 1 ? 503 : 200;
    };
    await sendAndCollect(1, 10, 'dlr-retry');
    for (const bodies of attempts.values()) {
      expect(bodies).toHaveLength(2);
      expect(bodies[1]).toBe(bodies[0]);
    }
    // The simulator counts a report as posted once it has read the 200, a
    // moment after the receiver recorded it.
    for (let i = 0; i < 100 && (pair?.sim.detail() as { dlrPosted?: number } | undefined)?.dlrPosted !== 10; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(pair?.sim.detail()).toMatchObject({ dlrPosted: 10, dlrFailed: 0, dlrPending: 0 });
  });

  it('gives up on a report the receiver refuses for good, and counts it', async () => {
    recorder.respondWith = () => 401;
    pair = await startPair({ dlrEnabled: true, dlrUrl: recorder.url, dlrDelayMs: 0, deliveredRatio: 1 });
    await pair.provider.sendBatch(outbound(5, 'dlr-refused'), { traceId: 't' });
    const deadline = Date.now() + 5_000;
    while (pair.sim.detail().dlrFailed < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(pair.sim.detail()).toMatchObject({ dlrFailed: 5, dlrPosted: 0, dlrPending: 0 });
  });

  it('drops reports over the pending limit and counts them', async () => {
    pair = await startPair({ dlrEnabled: true, dlrUrl: recorder.url, dlrDelayMs: 60_000, maxPendingDlr: 100 });
    await pair.provider.sendBatch(outbound(150, 'dlr-over'), { traceId: 't' });
    expect(pair.sim.detail()).toMatchObject({ dlrQueued: 100, dlrDropped: 50, dlrPending: 100 });
  });

  it('inbound(): posts a signed inbound text to the inbound URL', async () => {
    pair = await startPair({ inboundUrl: `${recorder.url}/webhooks/sms/simulator/inbound` });
    const res = await pair.sim.inbound('+491701234567', 'MyShop', 'STOP');
    expect(res.status).toBe(200);
    const [cb] = await recorder.waitFor(1);
    expect(cb?.path).toBe('/webhooks/sms/simulator/inbound');
    expect(verifySimulatorSignature(SECRET, cb?.headers['x-simulator-signature'], cb?.rawBody ?? '')).toBe(true);
    expect(JSON.parse(cb?.rawBody ?? '{}')).toEqual({
      id: expect.stringMatching(/^sim-in-/),
      from: '+491701234567',
      to: 'MyShop',
      text: 'STOP',
      timestamp: expect.any(String),
    });
  });
});
