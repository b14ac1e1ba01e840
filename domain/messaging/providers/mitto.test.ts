import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProviderFromConfig } from './index';
import { createMittoProvider, parseRetryAfterMs, type MittoProvider } from './mitto';
import {
  ProviderRateLimitedError,
  ProviderRequestError,
  ProviderUnavailableError,
  type OutboundMessage,
} from './provider';

// The adapter's mapping from HTTP/socket outcomes to SendResult, against a
// scripted local server (the end-to-end run against the simulator lives in
// apps/sms-simulator, since domain code must not import apps).

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  socketRequestIndex: number;
}

type Script = (seen: Seen, res: http.ServerResponse, req: http.IncomingMessage) => void;

interface Scripted {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function scripted(script: Script): Promise<Scripted> {
  const seen: Seen[] = [];
  const perSocket = new WeakMap<object, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      const entry: Seen = {
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
        socketRequestIndex: n,
      };
      seen.push(entry);
      script(entry, res, req);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

type WireMessage = { to: string; reference?: string };
function wireMessages(seen: Seen): WireMessage[] {
  return (seen.body as { messages: WireMessage[] }).messages;
}

/** Answers like Mitto: accepted, with an id per message. */
const acceptAll: Script = (seen, res) => {
  if (seen.path === '/sms') {
    const m = seen.body as WireMessage;
    reply(res, 200, { id: `id-${m.reference}`, to: m.to, responseCode: 0, responseText: 'Success', reference: m.reference });
    return;
  }
  reply(res, 200, {
    messages: wireMessages(seen).map((m) => ({ id: `id-${m.reference}`, to: m.to, responseCode: 0, responseText: 'Success', reference: m.reference })),
  });
};

function outbound(count: number, prefix = 'r'): OutboundMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    reference: `${prefix}-${i}`,
    to: `+4917${String(i).padStart(8, '0')}`,
    text: `Hello ${i}`,
    from: 'MyShop',
    encoding: i % 2 === 0 ? 'GSM-7' : 'UCS-2',
  }));
}

describe('createMittoProvider', () => {
  let server: Scripted | undefined;
  let provider: MittoProvider | undefined;
  afterEach(async () => {
    provider?.close();
    provider = undefined;
    await server?.close();
    server = undefined;
  });

  async function setup(script: Script, options: { timeoutMs?: number; dedupsByReference?: boolean } = {}): Promise<MittoProvider> {
    server = await scripted(script);
    provider = createMittoProvider({ baseUrl: `${server.url}/`, apiKey: 'k-1', ...options });
    return provider;
  }

  it('speaks the Mitto wire format: /smsbulk for many, /sms for one, digits-only numbers, type from encoding', async () => {
    const p = await setup(acceptAll);
    await p.sendBatch(outbound(2), { traceId: 'trace-1' });
    await p.sendBatch(outbound(1, 'one'), { traceId: 'trace-2' });

    const [bulk, single] = server?.seen ?? [];
    expect(bulk?.path).toBe('/smsbulk');
    expect(bulk?.headers['x-mitto-api-key']).toBe('k-1');
    expect(bulk?.headers['x-request-id']).toBe('trace-1');
    expect(bulk?.headers['content-type']).toBe('application/json');
    expect(bulk?.body).toEqual({
      messages: [
        { from: 'MyShop', to: '491700000000', text: 'Hello 0', type: 'GSM', reference: 'r-0' },
        { from: 'MyShop', to: '491700000001', text: 'Hello 1', type: 'Unicode', reference: 'r-1' },
      ],
    });
    expect(single?.path).toBe('/sms');
    expect(single?.headers['x-request-id']).toBe('trace-2');
    expect(single?.body).toEqual({ from: 'MyShop', to: '491700000000', text: 'Hello 0', type: 'GSM', reference: 'one-0' });
  });

  it('returns nothing for an empty batch without calling the provider', async () => {
    const p = await setup(acceptAll);
    expect(await p.sendBatch([], { traceId: 't' })).toEqual([]);
    expect(server?.seen).toHaveLength(0);
  });

  it('drops a trace id that is not a valid header value instead of failing the send', async () => {
    const p = await setup(acceptAll);
    const results = await p.sendBatch(outbound(1), { traceId: 'bad\r\nX-Injected: 1' });
    expect(results[0]?.outcome).toBe('accepted');
    expect(server?.seen[0]?.headers['x-request-id']).toBeUndefined();
    expect(server?.seen[0]?.headers['x-injected']).toBeUndefined();
  });

  it('maps per-message codes: invalid receiver is permanent, internal error and unknown codes are not', async () => {
    const p = await setup((seen, res) =>
      reply(res, 200, {
        messages: wireMessages(seen).map((m, i) =>
          i === 0
            ? { id: 'ok-0', responseCode: 0, responseText: 'Success', reference: m.reference }
            : { responseCode: [8, 1, 99][i - 1], responseText: 'x', reference: m.reference },
        ),
      }),
    );
    expect(await p.sendBatch(outbound(4), { traceId: 't' })).toEqual([
      { reference: 'r-0', outcome: 'accepted', providerMessageId: 'ok-0' },
      { reference: 'r-1', outcome: 'rejected', code: 'invalid_receiver', permanent: true },
      { reference: 'r-2', outcome: 'rejected', code: 'internal_error', permanent: false },
      { reference: 'r-3', outcome: 'rejected', code: 'mitto_99', permanent: false },
    ]);
  });

  it('a single send refused with a Mitto code in a 400 body is a per-message rejection', async () => {
    const p = await setup((_seen, res) => reply(res, 400, { responseCode: 8, responseText: 'Invalid receiver' }));
    expect(await p.sendBatch(outbound(1), { traceId: 't' })).toEqual([
      { reference: 'r-0', outcome: 'rejected', code: 'invalid_receiver', permanent: true },
    ]);
  });

  it('answers it cannot read are unknown, never rejected', async () => {
    const bodies: unknown[] = [
      'not json',
      { messages: [{ id: 'a', responseCode: 0 }] }, // wrong length
      { messages: [{ id: 'a', responseCode: 0, reference: 'someone-else' }, { responseCode: 0, reference: 'r-1' }] },
    ];
    let call = 0;
    const p = await setup((_seen, res) => reply(res, 200, bodies[call++]));
    expect(await p.sendBatch(outbound(2), { traceId: 't' })).toEqual([
      { reference: 'r-0', outcome: 'unknown', reason: 'unreadable_response' },
      { reference: 'r-1', outcome: 'unknown', reason: 'unreadable_response' },
    ]);
    expect((await p.sendBatch(outbound(2), { traceId: 't' })).map((r) => r.outcome)).toEqual(['unknown', 'unknown']);
    expect(await p.sendBatch(outbound(2), { traceId: 't' })).toEqual([
      { reference: 'r-0', outcome: 'unknown', reason: 'reference_mismatch' },
      { reference: 'r-1', outcome: 'unknown', reason: 'accepted_without_id' },
    ]);
  });

  it.each([500, 503, 408])('%i → ProviderUnavailableError (nothing accepted)', async (status) => {
    const p = await setup((_seen, res) => reply(res, status, { responseCode: 1 }));
    const error: unknown = await p.sendBatch(outbound(2), { traceId: 't' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect((error as ProviderUnavailableError).status).toBe(status);
  });

  it.each([502, 504])('%i from a gateway → unknown (the provider may have taken it)', async (status) => {
    const p = await setup((_seen, res) => reply(res, status, 'Bad gateway'));
    expect(await p.sendBatch(outbound(2), { traceId: 't' })).toEqual([
      { reference: 'r-0', outcome: 'unknown', reason: `http_${status}` },
      { reference: 'r-1', outcome: 'unknown', reason: `http_${status}` },
    ]);
  });

  it('429 → ProviderRateLimitedError honouring Retry-After', async () => {
    const p = await setup((_seen, res) => reply(res, 429, {}, { 'retry-after': '7' }));
    const error: unknown = await p.sendBatch(outbound(2), { traceId: 't' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRateLimitedError);
    expect((error as ProviderRateLimitedError).retryAfterMs).toBe(7000);
  });

  it('401 and other whole-request 4xx → ProviderRequestError', async () => {
    let status = 401;
    const p = await setup((_seen, res) => reply(res, status, { responseCode: 401 }));
    await expect(p.sendBatch(outbound(2), { traceId: 't' })).rejects.toMatchObject({ status: 401, retryable: false });
    status = 400;
    await expect(p.sendBatch(outbound(2), { traceId: 't' })).rejects.toBeInstanceOf(ProviderRequestError);
  });

  it('the connection dropping after the request was sent → unknown', async () => {
    const p = await setup((_seen, _res, req) => req.socket.destroy());
    expect(await p.sendBatch(outbound(2), { traceId: 't' })).toEqual([
      { reference: 'r-0', outcome: 'unknown', reason: 'network_after_send' },
      { reference: 'r-1', outcome: 'unknown', reason: 'network_after_send' },
    ]);
  });

  it('a timeout after the request was sent → unknown', async () => {
    const p = await setup(() => undefined, { timeoutMs: 100 });
    expect(await p.sendBatch(outbound(2), { traceId: 't' })).toEqual([
      { reference: 'r-0', outcome: 'unknown', reason: 'timeout_after_send' },
      { reference: 'r-1', outcome: 'unknown', reason: 'timeout_after_send' },
    ]);
  });

  it('aborting: before sending → ProviderUnavailableError and no request; after sending → unknown', async () => {
    const p = await setup(() => undefined);
    const aborted = AbortSignal.abort();
    await expect(p.sendBatch(outbound(2), { traceId: 't', signal: aborted })).rejects.toBeInstanceOf(
      ProviderUnavailableError,
    );
    expect(server?.seen).toHaveLength(0);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    expect((await p.sendBatch(outbound(2), { traceId: 't', signal: controller.signal })).map((r) => r.outcome)).toEqual([
      'unknown',
      'unknown',
    ]);
  });

  it('connection refused → ProviderUnavailableError', async () => {
    const p = await setup(acceptAll);
    await server?.close();
    server = undefined;
    await expect(p.sendBatch(outbound(2), { traceId: 't' })).rejects.toBeInstanceOf(ProviderUnavailableError);
  });

  it('splits more than 1 000 messages into chunks and keeps input order', async () => {
    const p = await setup(acceptAll);
    const messages = outbound(2345);
    const results = await p.sendBatch(messages, { traceId: 't' });
    expect(server?.seen.map((s) => wireMessages(s).length)).toEqual([1000, 1000, 345]);
    expect(results.map((r) => r.reference)).toEqual(messages.map((m) => m.reference));
    expect(results.every((r) => r.outcome === 'accepted')).toBe(true);
  });

  it('a later chunk failing as a whole does not hide the earlier accepted chunk', async () => {
    let call = 0;
    const p = await setup((seen, res, req) => {
      call++;
      if (call === 1) acceptAll(seen, res, req);
      else reply(res, 429, {}, { 'retry-after': '2' });
    });
    const results = await p.sendBatch(outbound(2500), { traceId: 't' });
    expect(server?.seen).toHaveLength(2); // the third chunk is not attempted
    expect(results.slice(0, 1000).every((r) => r.outcome === 'accepted')).toBe(true);
    expect(results.slice(1000).every((r) => r.outcome === 'rejected' && r.code === 'rate_limited' && !r.permanent)).toBe(
      true,
    );
    expect(results).toHaveLength(2500);
  });

  describe('a pooled keep-alive socket the server closed', () => {
    // The server drops the second request arriving on a socket without
    // answering, like a server closing an idle keep-alive connection.
    const dropSecondOnSocket: Script = (seen, res, req) => {
      if (seen.socketRequestIndex === 2) req.socket.destroy();
      else acceptAll(seen, res, req);
    };

    it('is retried once on a fresh socket when the provider dedups by reference', async () => {
      const p = await setup(dropSecondOnSocket, { dedupsByReference: true });
      await p.sendBatch(outbound(2, 'a'), { traceId: 't' });
      const results = await p.sendBatch(outbound(2, 'b'), { traceId: 't' });
      expect(results.map((r) => r.outcome)).toEqual(['accepted', 'accepted']);
      expect(server?.seen).toHaveLength(3);
    });

    it('is reported unknown, not retried, when the provider is not known to dedup (the default)', async () => {
      const p = await setup(dropSecondOnSocket);
      await p.sendBatch(outbound(2, 'a'), { traceId: 't' });
      const results = await p.sendBatch(outbound(2, 'b'), { traceId: 't' });
      expect(results.map((r) => r.outcome)).toEqual(['unknown', 'unknown']);
      expect(server?.seen).toHaveLength(2);
    });
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it.each<[string | undefined, number]>([
    ['1', 1000],
    ['0', 0],
    ['2.5', 2500],
    ['Wed, 01 Jan 2025 00:00:03 GMT', 3000],
    ['Tue, 31 Dec 2024 23:59:00 GMT', 0],
    [undefined, 1000],
    ['', 1000],
    ['soon', 1000],
    ['999999', 3_600_000],
  ])('%p → %i ms', (value, expected) => {
    expect(parseRetryAfterMs(value, now)).toBe(expected);
  });
});

describe('createProviderFromConfig', () => {
  it('builds the Mitto adapter under the configured name, deduplicating only when configured to', () => {
    for (const name of ['simulator', 'mitto'] as const) {
      for (const dedups of [false, true]) {
        const p = createProviderFromConfig({ SMS_PROVIDER: name, SMS_PROVIDER_URL: 'http://127.0.0.1:4010', SMS_PROVIDER_API_KEY: 'k', SMS_PROVIDER_DEDUPS_BY_REFERENCE: dedups });
        expect(p).toMatchObject({ name, maxBatchSize: 1000, dedupsByReference: dedups });
        p.close();
      }
    }
  });

  it('never assumes a provider dedups by reference', () => {
    const p = createMittoProvider({ baseUrl: 'http://127.0.0.1:4010', apiKey: 'k', name: 'mitto' });
    expect(p.dedupsByReference).toBe(false);
    p.close();
  });
});
