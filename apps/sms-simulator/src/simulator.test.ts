import { loadSimulatorConfig, SimulatorConfigError } from './config';
import { createSimulator, type SimulatorHandle } from './simulator';

// The simulator's HTTP surface as the demo, benchmark and e2e tests use it.

const KEY = 'k';
let sim: SimulatorHandle;
let base: string;

beforeEach(async () => {
  sim = createSimulator({ apiKey: KEY, dlrEnabled: false });
  base = (await sim.start(0)).url;
});
afterEach(async () => {
  await sim.stop();
});

type Json = Record<string, unknown>;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

const send = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call('POST', path, body, { 'x-mitto-api-key': KEY, ...headers });

const msg = (reference: string | undefined, to = '491700000001'): Json => ({ from: 'Shop', to, text: 'hi', reference });

describe('send endpoints', () => {
  it('POST /sms answers in the Mitto shape', async () => {
    const res = await send('/sms', msg('a'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^sim-[0-9a-z]+-[0-9a-f]+$/),
      to: '491700000001',
      from: 'Shop',
      text: 'hi',
      responseCode: 0,
      responseText: 'Success',
      reference: 'a',
    });
  });

  it('rejects a missing or wrong API key with 401 and counts nothing as sent', async () => {
    for (const headers of [{}, { 'x-mitto-api-key': 'wrong' }] as Array<Record<string, string>>) {
      const res = await call('POST', '/smsbulk', { messages: [msg('a')] }, headers);
      expect(res.status).toBe(401);
      expect(res.body.responseCode).toBe(401);
    }
    expect(sim.stats()).toEqual({ requests: 2, messagesAccepted: 0, uniqueReferences: 0, duplicatesSuppressed: 0, duplicatesSent: 0 });
  });

  it('validates each message with Mitto codes; only valid ones are sent', async () => {
    const res = await send('/smsbulk', {
      messages: [
        { ...msg('ok') },
        { ...msg('type'), type: 'Emoji' },
        { ...msg('text'), text: '' },
        { ...msg('from'), from: '' },
        msg('empty-to', ''),
        msg('short', '1234567'),
        msg('long', '1234567890123456'),
        msg('plus', '+491700000001'),
      ],
    });
    expect(res.status).toBe(200);
    const results = res.body.messages as Json[];
    expect(results.map((r) => r.responseCode)).toEqual([0, 2, 3, 5, 7, 8, 8, 8]);
    expect(results.slice(1).every((r) => r.id === undefined)).toBe(true);
    expect(results.map((r) => r.reference)).toEqual(['ok', 'type', 'text', 'from', 'empty-to', 'short', 'long', 'plus']);
    expect(sim.stats()).toMatchObject({ messagesAccepted: 1, uniqueReferences: 1 });
  });

  it.each([
    ['more than 1 000 messages', { messages: Array.from({ length: 1001 }, (_, i) => msg(`r${i}`)) }],
    ['no messages array', { to: '491700000001' }],
    ['empty messages', { messages: [] }],
    ['a non-string reference', { messages: [{ ...msg('x'), reference: 5 }] }],
    ['malformed JSON', '{"messages": ['],
  ])('answers 400 to %s and sends nothing', async (_label, body) => {
    const res = await send('/smsbulk', body);
    expect(res.status).toBe(400);
    expect(sim.stats().messagesAccepted).toBe(0);
  });

  it('answers 413 to a body over 10 MB', async () => {
    const text = 'x'.repeat(11 * 1024 * 1024);
    const res = await fetch(`${base}/sms`, {
      method: 'POST',
      headers: { 'x-mitto-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ ...msg('big'), text }),
    });
    expect(res.status).toBe(413);
  });

  it('dedups by reference, also within one request; messages without reference are always new', async () => {
    const res = await send('/smsbulk', { messages: [msg('a'), msg('a'), msg(undefined), msg(undefined)] });
    const [a1, a2, n1, n2] = (res.body.messages as Json[]).map((m) => m.id as string);
    expect(a2).toBe(a1);
    expect(new Set([a1, n1, n2]).size).toBe(3);
    expect(sim.stats()).toEqual({ requests: 1, messagesAccepted: 3, uniqueReferences: 1, duplicatesSuppressed: 1, duplicatesSent: 0 });
  });

  it('with dedupsByReference off, a repeated reference is a second SMS under a new id, and counted as one', async () => {
    await sim.stop();
    sim = createSimulator({ apiKey: KEY, dlrEnabled: false, dedupsByReference: false });
    base = (await sim.start(0)).url;
    const first = await send('/sms', msg('a'));
    const again = await send('/smsbulk', { messages: [msg('a'), msg('b')] });
    const [a2] = (again.body.messages as Json[]).map((m) => m.id as string);
    expect(a2).not.toBe(first.body.id);
    expect(sim.stats()).toEqual({ requests: 2, messagesAccepted: 3, uniqueReferences: 2, duplicatesSuppressed: 0, duplicatesSent: 1 });
    expect(sim.referenceStats('a')).toEqual({ reference: 'a', sends: 2, duplicates: 0, providerId: first.body.id });
  });
});

describe('control surface', () => {
  it('GET /_stats has exactly the five keys; perReference and detail only when asked', async () => {
    await send('/sms', msg('a'));
    await send('/sms', msg('a'));
    const plain = await call('GET', '/_stats');
    expect(plain.body).toEqual({ requests: 2, messagesAccepted: 1, uniqueReferences: 1, duplicatesSuppressed: 1, duplicatesSent: 0 });

    const per = await call('GET', '/_stats?reference=a');
    expect(per.body.perReference).toEqual({ reference: 'a', sends: 1, duplicates: 1, providerId: expect.any(String) });
    const unknown = await call('GET', '/_stats?reference=zzz');
    expect(unknown.body.perReference).toEqual({ reference: 'zzz', sends: 0, duplicates: 0, providerId: null });

    const detail = await call('GET', '/_stats?detail=1');
    expect(detail.body.detail).toMatchObject({ dlrFailed: 0, dlrPending: 0, hangingRequests: 0 });
  });

  it('POST /_faults replaces the faults, {} clears them, unknown keys and bad values are refused', async () => {
    expect((await call('POST', '/_faults', { errorRate: 1, latencyMs: 5 })).body.faults).toEqual({
      latencyMs: 5,
      errorRate: 1,
      rateLimitRate: 0,
      hangRate: 0,
    });
    expect((await send('/sms', msg('a'))).status).toBe(500);

    expect((await call('POST', '/_faults', { rateLimitRate: 1 })).body.faults).toMatchObject({ errorRate: 0, rateLimitRate: 1 });
    const limited = await send('/sms', msg('a'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');

    expect((await call('POST', '/_faults', {})).status).toBe(200);
    expect((await send('/sms', msg('a'))).status).toBe(200);

    expect((await call('POST', '/_faults', { errorrate: 1 })).status).toBe(400);
    expect((await call('POST', '/_faults', { errorRate: 2 })).status).toBe(400);
    expect((await call('POST', '/_faults', '[')).status).toBe(400);
  });

  it('errors and rate limits send nothing but are counted as requests', async () => {
    sim.setFaults({ errorRate: 1 });
    await send('/sms', msg('a'));
    sim.setFaults({ rateLimitRate: 1 });
    await send('/sms', msg('a'));
    expect(sim.stats()).toEqual({ requests: 2, messagesAccepted: 0, uniqueReferences: 0, duplicatesSuppressed: 0, duplicatesSent: 0 });
  });

  it('hangRate: accepts the messages and never answers', async () => {
    sim.setFaults({ hangRate: 1 });
    const res = fetch(`${base}/smsbulk`, {
      method: 'POST',
      headers: { 'x-mitto-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [msg('h1'), msg('h2')] }),
      signal: AbortSignal.timeout(300),
    });
    await expect(res).rejects.toThrow();
    expect(sim.stats()).toMatchObject({ messagesAccepted: 2, uniqueReferences: 2 });
  });

  it('latencyMs delays the answer', async () => {
    sim.setFaults({ latencyMs: 120 });
    const started = Date.now();
    expect((await send('/sms', msg('slow'))).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('POST /_reset zeroes stats, forgets references and clears faults; ids are never reused', async () => {
    const before = (await send('/sms', msg('a'))).body.id;
    sim.setFaults({ latencyMs: 10_000 });
    expect((await call('POST', '/_reset')).body).toEqual({ ok: true });
    expect((await call('GET', '/_stats')).body).toEqual({ requests: 0, messagesAccepted: 0, uniqueReferences: 0, duplicatesSuppressed: 0, duplicatesSent: 0 });
    const after = await send('/sms', msg('a'));
    expect(after.body.id).not.toBe(before);
    expect(sim.stats()).toMatchObject({ messagesAccepted: 1, duplicatesSuppressed: 0, duplicatesSent: 0 });
    expect(sim.detail().faults).toEqual({ latencyMs: 0, errorRate: 0, rateLimitRate: 0, hangRate: 0 });
  });

  it('GET /_requests returns the trace ids that carried a reference (X-Request-Id and traceparent)', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await send('/smsbulk', { messages: [msg('t1'), msg('t2')] }, { 'x-request-id': 'req-1' });
    await send('/sms', msg('t1'), { traceparent });
    await send('/sms', msg('other'), { 'x-request-id': 'req-3' });

    const res = await call('GET', '/_requests?reference=t1');
    expect(res.body.traceIds).toEqual(['req-1', '4bf92f3577b34da6a3ce929d0e0e4736']);
    expect((res.body.requests as Json[]).map((r) => r.path)).toEqual(['/smsbulk', '/sms']);
    expect((await call('GET', '/_requests')).status).toBe(400);
  });

  it('remembers only the last N requests', async () => {
    await sim.stop();
    sim = createSimulator({ apiKey: KEY, dlrEnabled: false, requestLogSize: 2 });
    base = (await sim.start(0)).url;
    await send('/sms', msg('old'), { 'x-request-id': 'r1' });
    await send('/sms', msg('x'), { 'x-request-id': 'r2' });
    await send('/sms', msg('y'), { 'x-request-id': 'r3' });
    expect(sim.tracesFor('old').traceIds).toEqual([]);
    expect(sim.tracesFor('y').traceIds).toEqual(['r3']);
  });

  it('answers 404 elsewhere', async () => {
    expect((await call('GET', '/nope')).status).toBe(404);
    expect((await call('GET', '/health')).status).toBe(200);
  });
});

describe('loadSimulatorConfig', () => {
  it('has the documented defaults, deriving callback URLs from the API PORT', () => {
    expect(loadSimulatorConfig({})).toMatchObject({
      port: 4010,
      apiKey: 'dev-sms-api-key',
      webhookSecret: 'dev-sms-webhook-secret',
      dlrUrl: 'http://127.0.0.1:3000/webhooks/sms/simulator/status',
      inboundUrl: 'http://127.0.0.1:3000/webhooks/sms/simulator/inbound',
      dlrDelayMs: 200,
      deliveredRatio: 0.95,
      dlrEnabled: true,
      dlrConcurrency: 32,
      maxPendingDlr: 2_000_000,
      dedupsByReference: true,
    });
    expect(loadSimulatorConfig({ PORT: '3100', SIMULATOR_DLR_ENABLED: 'false', SIMULATOR_DLR_URL: '', SIMULATOR_DEDUPS_BY_REFERENCE: 'false' })).toMatchObject({
      dlrUrl: 'http://127.0.0.1:3100/webhooks/sms/simulator/status',
      dlrEnabled: false,
      dedupsByReference: false,
    });
  });

  it('names what is wrong', () => {
    const attempt = () => loadSimulatorConfig({ SIMULATOR_DELIVERED_RATIO: '1.5', SMS_SIMULATOR_PORT: 'x' });
    expect(attempt).toThrow(SimulatorConfigError);
    expect(attempt).toThrow(/SIMULATOR_DELIVERED_RATIO.*SMS_SIMULATOR_PORT|SMS_SIMULATOR_PORT.*SIMULATOR_DELIVERED_RATIO/);
  });
});
