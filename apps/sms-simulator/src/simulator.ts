import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MITTO_API_KEY_HEADER } from '../../../domain/messaging/providers/mitto-wire';
import { loadSimulatorConfig, type SimulatorConfig } from './config';
import { DlrDispatcher, type DlrStats } from './dlr-dispatcher';
import { faultsFrom, faultsSchema, NO_FAULTS, roll, type Faults, type FaultsInput } from './faults';
import { parseBulkBody } from './bulk-body';
import { BodyTooLargeError, parseJson, readBody, sendJson } from './http-io';
import { RequestLog, type ReferenceTraces } from './request-log';
import {
  processBulk,
  processSingle,
  readBulkMessages,
  readSingleMessage,
  referencesOf,
  type OnNewSend,
} from './send-handler';
import { SendLedger, type ReferenceStats, type SimulatorStats, type ThroughputStats } from './send-ledger';
import { createCallbackPool, postSigned, type SignedPostResult } from './signed-post';

export type { SimulatorStats, ReferenceStats, ThroughputStats } from './send-ledger';
export type { Faults, FaultsInput } from './faults';
export type { DlrStats } from './dlr-dispatcher';
export type { ReferenceTraces } from './request-log';

export interface SimulatorOptions extends Partial<SimulatorConfig> {
  /** How many recent send requests `/_requests` remembers. */
  requestLogSize?: number;
}

export interface SimulatorDetail extends DlrStats {
  hangingRequests: number;
  faults: Faults;
}

export interface SimulatorHandle {
  readonly server: http.Server;
  readonly config: SimulatorConfig;
  start(port?: number): Promise<{ port: number; url: string }>;
  stop(): Promise<void>;
  stats(): SimulatorStats;
  /** Segments accepted and the segments/s they arrived at (GET /_throughput). */
  throughput(): ThroughputStats;
  detail(): SimulatorDetail;
  referenceStats(reference: string): ReferenceStats;
  tracesFor(reference: string): ReferenceTraces;
  /** Replaces the active faults; `{}` clears them. */
  setFaults(faults: FaultsInput): Faults;
  reset(): void;
  /** Posts a signed inbound text to the configured inbound URL, as a handset reply would arrive. */
  inbound(from: string, to: string, text: string): Promise<SignedPostResult>;
}

const SEND_BODY_LIMIT = 10 * 1024 * 1024;
const CONTROL_BODY_LIMIT = 64 * 1024;

function json(value: unknown): string {
  return JSON.stringify(value);
}

function errorBody(responseCode: number, responseText: string): string {
  return json({ responseCode, responseText });
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

export function createSimulator(options: SimulatorOptions = {}): SimulatorHandle {
  const { requestLogSize, ...overrides } = options;
  // Defaults come from the documented env defaults, not from process.env, so
  // an in-process simulator in a test is not shaped by the developer's shell.
  const config: SimulatorConfig = { ...loadSimulatorConfig({}), ...overrides };

  const ledger = new SendLedger(config.dedupsByReference);
  const requestLog = new RequestLog(requestLogSize ?? 1000);
  const dlr = config.dlrEnabled
    ? new DlrDispatcher({
        url: config.dlrUrl,
        providerId: (seq) => ledger.providerId(seq),
        secret: config.webhookSecret,
        delayMs: config.dlrDelayMs,
        deliveredRatio: config.deliveredRatio,
        concurrency: config.dlrConcurrency,
        maxPending: config.maxPendingDlr,
        batchSize: config.dlrBatch,
      })
    : undefined;
  const onNew: OnNewSend = dlr ? (seq, ref) => dlr.enqueue(seq, ref) : () => undefined;
  const inboundUrl = new URL(config.inboundUrl);
  const inboundPool = createCallbackPool(inboundUrl, 4);

  let faults: Faults = { ...NO_FAULTS };
  const hanging = new Set<http.ServerResponse>();
  const delayed = new Set<NodeJS.Timeout>();

  function respondLater(res: http.ServerResponse, status: number, body: string, headers?: Record<string, string>): void {
    if (faults.latencyMs <= 0) {
      sendJson(res, status, body, headers);
      return;
    }
    const t = setTimeout(() => {
      delayed.delete(t);
      sendJson(res, status, body, headers);
    }, faults.latencyMs);
    delayed.add(t);
  }

  async function handleSend(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    ledger.requests++;
    if (headerValue(req.headers[MITTO_API_KEY_HEADER]) !== config.apiKey) {
      req.resume();
      sendJson(res, 401, errorBody(401, 'Unauthorized: missing or invalid X-Mitto-API-Key'));
      return;
    }
    const raw = await readBody(req, SEND_BODY_LIMIT);
    const bulk = path === '/smsbulk';
    const parsed = bulk ? parseBulkBody(raw) : parseJson(raw);
    const input = bulk ? readBulkMessages(parsed) : readSingleMessage(parsed);
    if (typeof input === 'string') {
      sendJson(res, 400, errorBody(400, `Bad request: ${input}`));
      return;
    }
    const messages = Array.isArray(input) ? input : [input];
    requestLog.add({
      requestId: headerValue(req.headers['x-request-id']),
      traceparent: headerValue(req.headers.traceparent),
      path,
      receivedAt: new Date().toISOString(),
      references: referencesOf(messages),
    });

    if (roll(faults.errorRate)) {
      respondLater(res, 500, errorBody(1, 'Internal error (simulated)'));
      return;
    }
    if (roll(faults.rateLimitRate)) {
      respondLater(res, 429, errorBody(429, 'Too many requests (simulated)'), { 'retry-after': '1' });
      return;
    }
    const body = Array.isArray(input) ? processBulk(input, ledger, onNew) : processSingle(input, ledger, onNew);
    ledger.endRequest(Date.now());
    if (roll(faults.hangRate)) {
      // Accept-then-hang: the sends above are real, the answer never comes.
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    respondLater(res, 200, body);
  }

  async function handleControl(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    query: URLSearchParams,
  ): Promise<boolean> {
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/_stats') {
      const out: Record<string, unknown> = { ...ledger.stats() };
      const reference = query.get('reference');
      if (reference !== null) out.perReference = ledger.referenceStats(reference);
      if (query.get('detail') === '1' || query.get('detail') === 'true') out.detail = handle.detail();
      sendJson(res, 200, json(out));
      return true;
    }
    if (method === 'GET' && path === '/_throughput') {
      sendJson(res, 200, json(ledger.throughput()));
      return true;
    }
    if (method === 'POST' && path === '/_faults') {
      const raw = await readBody(req, CONTROL_BODY_LIMIT);
      const body = raw.length === 0 ? {} : parseJson(raw);
      const result = faultsSchema.safeParse(body);
      if (!result.success) {
        sendJson(res, 400, json({ error: 'invalid faults', issues: result.error.issues }));
        return true;
      }
      sendJson(res, 200, json({ faults: handle.setFaults(result.data) }));
      return true;
    }
    if (method === 'POST' && path === '/_reset') {
      req.resume();
      handle.reset();
      sendJson(res, 200, json({ ok: true }));
      return true;
    }
    if (method === 'GET' && path === '/_requests') {
      const reference = query.get('reference');
      if (reference === null || reference === '') {
        sendJson(res, 400, json({ error: 'reference query parameter is required' }));
        return true;
      }
      sendJson(res, 200, json(requestLog.tracesFor(reference)));
      return true;
    }
    if (method === 'GET' && path === '/health') {
      sendJson(res, 200, json({ status: 'ok' }));
      return true;
    }
    return false;
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (req.method === 'POST' && (path === '/sms' || path === '/smsbulk')) {
      await handleSend(req, res, path);
      return;
    }
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    if (await handleControl(req, res, path, query)) return;
    req.resume();
    sendJson(res, 404, errorBody(404, 'Not found'));
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError) {
        sendJson(res, 413, errorBody(413, err.message), { connection: 'close' });
      } else {
        sendJson(res, 500, errorBody(1, 'Internal error'));
      }
    });
  });
  // Longer than any sane client pool idle time, so the client closes idle
  // sockets first and never writes into one we are closing.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const handle: SimulatorHandle = {
    server,
    config,
    start(port = config.port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, config.host, () => {
          server.off('error', reject);
          const bound = (server.address() as AddressInfo).port;
          resolve({ port: bound, url: `http://127.0.0.1:${bound}` });
        });
      });
    },
    stop() {
      for (const t of delayed) clearTimeout(t);
      delayed.clear();
      dlr?.stop();
      void inboundPool.destroy();
      return new Promise((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
        // Hanging responses would otherwise keep close() waiting forever.
        server.closeAllConnections();
      });
    },
    stats: () => ledger.stats(),
    throughput: () => ledger.throughput(),
    detail: () => ({
      ...(dlr?.stats() ?? {
        dlrQueued: 0,
        dlrPosted: 0,
        dlrFailed: 0,
        dlrDropped: 0,
        dlrPending: 0,
        dlrInFlight: 0,
        statusDelivered: 0,
        statusFailed: 0,
      }),
      hangingRequests: hanging.size,
      faults: { ...faults },
    }),
    referenceStats: (reference) => ledger.referenceStats(reference),
    tracesFor: (reference) => requestLog.tracesFor(reference),
    setFaults(input) {
      faults = faultsFrom(faultsSchema.parse(input));
      return { ...faults };
    },
    reset() {
      ledger.reset();
      requestLog.clear();
      dlr?.reset();
      faults = { ...NO_FAULTS };
    },
    inbound(from, to, text) {
      const body = json({
        id: `sim-in-${randomBytes(8).toString('hex')}`,
        from,
        to,
        text,
        timestamp: new Date().toISOString(),
      });
      return postSigned(inboundPool, inboundUrl, body, config.webhookSecret, 5_000);
    },
  };
  return handle;
}
