import type { Express } from 'express';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { deferContinue } from '../apps/api/src/middleware/body-limit';

// Raw HTTP/1.1 over a socket, for what supertest cannot do: send a request's
// head and only part of its body, and see whether the server answers (and
// how much it read) before the rest arrives.

export interface Listening {
  port: number;
  /** Bytes the server has read from all its connections so far. */
  bytesRead(): number;
  close(): Promise<void>;
}

/** The app on an ephemeral loopback port as server.ts runs it, counting what its sockets read. */
export async function listen(app: Express): Promise<Listening> {
  const server = createServer(app);
  deferContinue(server);
  const sockets: Socket[] = [];
  server.on('connection', (s: Socket) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listen: no port');
  return {
    port: address.port,
    bytesRead: () => sockets.reduce((n, s) => n + s.bytesRead, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

export interface PartialUpload {
  /** The complete response, or null if none arrived within the wait. */
  response: RawResponse | null;
  /**
   * Goes on writing the body (up to `maxBytes` more) until the server answers
   * or closes the connection, as a client that reads while it uploads does;
   * says whether the server closed, how much was written and the response.
   */
  keepSending(maxBytes: number): Promise<{ closedByServer: boolean; written: number; response: RawResponse | null }>;
}

function parseResponse(buf: Buffer): RawResponse | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = buf.subarray(end + 4);
  if (body.length < length) return null;
  return { status: Number(statusLine?.split(' ')[1]), headers, body: body.subarray(0, length).toString('utf8') };
}

/**
 * Writes the request head and `firstPart` of the body, then waits up to
 * `waitMs` for a complete response without sending anything more.
 */
export async function partialUpload(
  port: number,
  opts: { method: string; path: string; headers: Record<string, string>; firstPart: Buffer | string; waitMs?: number },
): Promise<PartialUpload> {
  const socket = connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  // A server that closes while we write makes EPIPE/ECONNRESET: that is the answer we look for.
  socket.on('error', () => (closed = true));
  socket.on('close', () => (closed = true));
  socket.on('end', () => (closed = true));
  await new Promise<void>((resolve) => socket.once('connect', resolve));

  const chunked = Object.keys(opts.headers).some((h) => h.toLowerCase() === 'transfer-encoding');
  const frame = (data: Buffer | string): Buffer => {
    const bytes = Buffer.from(data);
    return chunked ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]) : bytes;
  };
  const head = [`${opts.method} ${opts.path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  socket.write(head);
  socket.write(frame(opts.firstPart));

  const deadline = Date.now() + (opts.waitMs ?? 10_000);
  let response = parseResponse(received);
  while (!response && !closed && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    response = parseResponse(received);
  }

  return {
    response,
    async keepSending(maxBytes) {
      const chunk = frame(Buffer.alloc(64 * 1024, 'a'));
      let written = 0;
      // Writing on after the answer would only race the server's close (a reset can drop the answer).
      while (!closed && written < maxBytes && received.length === 0) {
        const flushed = socket.write(chunk);
        written += chunk.length;
        if (!flushed) {
          // A server that stopped reading but keeps the connection open never drains: give up after a while.
          await Promise.race([new Promise((r) => socket.once('drain', r)), new Promise((r) => setTimeout(r, 2_000))]);
          if (socket.writableNeedDrain) break;
        }
        await new Promise((r) => setImmediate(r));
      }
      // Let a close that is on its way arrive.
      if (!closed) await Promise.race([new Promise((r) => socket.once('close', r)), new Promise((r) => setTimeout(r, 2_000))]);
      const closedByServer = closed;
      socket.destroy();
      return { closedByServer, written, response: parseResponse(received) };
    },
  };
}
