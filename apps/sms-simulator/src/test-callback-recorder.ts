import http from 'node:http';
import type { AddressInfo } from 'node:net';

// Test support: a local HTTP server standing in for the API's webhook routes,
// recording what the simulator posts to it.

export interface RecordedCallback {
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
}

export interface CallbackRecorder {
  url: string;
  received: RecordedCallback[];
  /** Status to answer for the next callback; default 200. */
  respondWith: (cb: RecordedCallback, index: number) => number;
  waitFor(count: number, timeoutMs?: number): Promise<RecordedCallback[]>;
  close(): Promise<void>;
}

export async function startCallbackRecorder(): Promise<CallbackRecorder> {
  const received: RecordedCallback[] = [];
  let index = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const cb = { path: req.url ?? '', headers: req.headers, rawBody: Buffer.concat(chunks).toString('utf8') };
      const status = recorder.respondWith(cb, index++);
      if (status >= 200 && status < 300) received.push(cb);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const recorder: CallbackRecorder = {
    url: `http://127.0.0.1:${port}`,
    received,
    respondWith: () => 200,
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`got ${received.length} of ${count} callbacks in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return received;
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return recorder;
}
