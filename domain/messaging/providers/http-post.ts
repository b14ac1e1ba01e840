import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

// A POST that tells the caller, when it fails, whether the request could have
// reached the server. That single bit decides between "nothing was sent, retry
// freely" and "the outcome is unknown", which is what send safety hinges on.

export interface PostResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export type PostFailureReason = 'timeout' | 'aborted' | 'network';

export class HttpPostError extends Error {
  constructor(
    readonly reason: PostFailureReason,
    /** The whole request was handed to the OS (or answered): the server may have acted on it. */
    readonly mayHaveReachedServer: boolean,
    /** The failure happened on a pooled keep-alive socket, i.e. possibly the stale-socket race. */
    readonly reusedSocket: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpPostError';
  }
}

export interface PostOptions {
  agent: http.Agent;
  url: URL;
  body: string;
  headers: OutgoingHttpHeaders;
  timeoutMs: number;
  signal?: AbortSignal;
}

export function createKeepAliveAgent(url: URL, maxSockets: number): http.Agent {
  const options: http.AgentOptions = {
    keepAlive: true,
    maxSockets,
    maxFreeSockets: maxSockets,
    // Idle pooled sockets are closed before common server keep-alive timeouts
    // (Node's default is 5 s) so we rarely write into a socket the server is closing.
    timeout: 4_000,
    scheduling: 'lifo',
  };
  return url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

export function postJson(opts: PostOptions): Promise<PostResponse> {
  const { agent, url, body, headers, timeoutMs, signal } = opts;
  return new Promise<PostResponse>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new HttpPostError('aborted', false, false, 'aborted before the request was sent', { cause: signal.reason }));
      return;
    }
    let written = false;
    let settled = false;
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request({
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: 'POST',
      agent,
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    });

    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (reason: PostFailureReason, message: string, cause?: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(new HttpPostError(reason, written, req.reusedSocket, message, { cause }));
      req.destroy();
    };
    const onAbort = (): void => fail('aborted', 'request aborted by caller', signal?.reason);
    const timer = setTimeout(() => fail('timeout', `no complete response within ${timeoutMs} ms`), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    // 'finish' = the last byte of the body was handed to the OS. Before it, the
    // server cannot hold a complete request, so it cannot have acted on it.
    req.on('finish', () => {
      written = true;
    });
    req.on('error', (err) => fail('network', err.message, err));
    req.on('response', (res) => {
      written = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => fail('network', err.message, err));
      res.on('close', () => {
        if (!res.complete) fail('network', 'response ended before it was complete');
      });
    });
    req.end(body);
  });
}
