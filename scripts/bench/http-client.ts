// The load generator's HTTP/1.1 client: keep-alive sockets, one request in
// flight per socket, requests encoded once into bytes, and of each answer
// only the status line and the framing headers read. node:http costs
// ~150 µs of CPU per request on each end of the wire; at 3 000 requests/s
// the generator would take a quarter of the two cores the services under
// test run on. This one costs a fraction of that (what wrk or autocannon do).

import net from 'node:net';

export interface EncodedRequest {
  bytes: Buffer;
}

export function encodeRequest(host: string, req: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer }): EncodedRequest {
  const body = req.body === undefined ? null : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
  let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n`;
  for (const [name, value] of Object.entries(req.headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${name} holds a line break`);
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    head += `${name}: ${value}\r\n`;
  }
  if (body !== null || req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') head += `content-length: ${body?.length ?? 0}\r\n`;
  head += '\r\n';
  const bytes = body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
  return { bytes };
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

interface Pending {
  resolve: (status: number) => void;
  timer: NodeJS.Timeout;
}

/**
 * Reads one response at a time from a byte stream. Returns the status when a
 * whole response is in, -1 while more bytes are needed, throws on bytes that
 * are not HTTP/1.1.
 */
export class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  private status = 0;
  private bodyStart = -1;
  private contentLength = -1;
  private chunked = false;
  private chunkPos = 0;
  /** The last complete response asked for the connection to close. */
  closeAfter = false;

  push(chunk: Buffer): number {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.bodyStart < 0 && !this.readHead()) return -1;
    const end = this.chunked ? this.chunkedEnd() : this.bodyStart + this.contentLength;
    if (end < 0 || this.buf.length < end) return -1;
    const status = this.status;
    this.buf = this.buf.subarray(end);
    this.bodyStart = -1;
    return status;
  }

  private readHead(): boolean {
    const at = this.buf.indexOf(HEAD_END);
    if (at < 0) return false;
    const lines = this.buf.subarray(0, at).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    this.status = Number(m[1]);
    this.contentLength = -1;
    this.chunked = false;
    this.closeAfter = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') this.contentLength = Number(value);
      else if (name === 'transfer-encoding') this.chunked = value.includes('chunked');
      else if (name === 'connection') this.closeAfter = value.includes('close');
    }
    // No framing header: only a bodiless status may omit it here (we never read to close).
    if (!this.chunked && this.contentLength < 0) {
      if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) this.contentLength = 0;
      else throw new Error(`response ${this.status} has neither content-length nor chunked framing`);
    }
    this.bodyStart = at + HEAD_END.length;
    this.chunkPos = this.bodyStart;
    return true;
  }

  /** Where the chunked body ends (after the last chunk and the trailer), or -1. */
  private chunkedEnd(): number {
    for (;;) {
      const lineEnd = this.buf.indexOf(CRLF, this.chunkPos);
      if (lineEnd < 0) return -1;
      const size = parseInt(this.buf.subarray(this.chunkPos, lineEnd).toString('latin1').split(';')[0] as string, 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) {
        const trailerEnd = this.buf.indexOf(CRLF, lineEnd + 2);
        // Trailers end with an empty line; without trailers it follows at once.
        if (trailerEnd < 0) return -1;
        if (trailerEnd === lineEnd + 2) return trailerEnd + 2;
        const end = this.buf.indexOf(HEAD_END, lineEnd);
        return end < 0 ? -1 : end + HEAD_END.length;
      }
      const next = lineEnd + 2 + size + 2;
      if (this.buf.length < next) return -1;
      this.chunkPos = next;
    }
  }
}

class Connection {
  readonly socket: net.Socket;
  private readonly reader = new ResponseReader();
  private pending: Pending | null = null;
  dead = false;

  constructor(host: string, port: number, private readonly onIdle: (c: Connection) => void) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      let status: number;
      try {
        status = this.reader.push(chunk);
      } catch {
        this.fail();
        return;
      }
      if (status < 0 || !this.pending) return;
      const p = this.pending;
      this.pending = null;
      clearTimeout(p.timer);
      if (this.reader.closeAfter) this.kill();
      p.resolve(status);
      if (!this.dead) this.onIdle(this);
    });
    this.socket.on('error', () => this.fail());
    this.socket.on('close', () => this.fail());
  }

  send(req: EncodedRequest, timeoutMs: number, resolve: (status: number) => void): void {
    const timer = setTimeout(() => this.fail(), timeoutMs);
    this.pending = { resolve, timer };
    this.socket.write(req.bytes);
  }

  private kill(): void {
    this.dead = true;
    this.socket.destroy();
  }

  /** Transport error, timeout or close: the request in flight answers 0 and the socket is not reused. */
  private fail(): void {
    const p = this.pending;
    this.pending = null;
    if (!this.dead) this.kill();
    if (p) {
      clearTimeout(p.timer);
      p.resolve(0);
    }
  }
}

/** Up to `maxSockets` keep-alive connections; requests beyond that wait for one to be free. */
export class LeanHttpPool {
  private readonly url: URL;
  private readonly idle: Connection[] = [];
  private readonly waiting: { req: EncodedRequest; timeoutMs: number; resolve: (status: number) => void }[] = [];
  private open = 0;
  /** Connections opened so far (a warm pool opens none under a steady load). */
  opened = 0;

  constructor(baseUrl: string, private readonly maxSockets: number) {
    this.url = new URL(baseUrl);
  }

  get host(): string {
    return this.url.host;
  }

  /** Resolves with the status code, or 0 on a transport error or timeout. */
  request(req: EncodedRequest, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      let conn = this.idle.pop();
      while (conn?.dead) conn = this.idle.pop();
      if (!conn && this.open < this.maxSockets) conn = this.connect();
      if (conn) conn.send(req, timeoutMs, resolve);
      else this.waiting.push({ req, timeoutMs, resolve });
    });
  }

  private connect(): Connection {
    this.open++;
    this.opened++;
    const conn = new Connection(this.url.hostname, Number(this.url.port || 80), (c) => {
      const next = this.waiting.shift();
      if (next) c.send(next.req, next.timeoutMs, next.resolve);
      else this.idle.push(c);
    });
    conn.socket.on('close', () => {
      this.open--;
      const next = this.waiting.shift();
      if (next) this.connect().send(next.req, next.timeoutMs, next.resolve);
    });
    return conn;
  }

  destroy(): void {
    for (const c of this.idle) c.socket.destroy();
    this.idle.length = 0;
  }
}
