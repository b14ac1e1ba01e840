import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeRequest, LeanHttpPool, ResponseReader } from './http-client';

describe('ResponseReader', () => {
  it('reads a content-length response split across chunks, then the next one', () => {
    const r = new ResponseReader();
    expect(r.push(Buffer.from('HTTP/1.1 202 Accepted\r\nContent-Le'))).toBe(-1);
    expect(r.push(Buffer.from('ngth: 5\r\n\r\nhel'))).toBe(-1);
    expect(r.push(Buffer.from('lo'))).toBe(202);
    expect(r.push(Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'))).toBe(404);
  });

  it('reads chunked bodies, with and without trailers', () => {
    const r = new ResponseReader();
    expect(r.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n'))).toBe(-1);
    expect(r.push(Buffer.from('5;ext=1\r\npedia\r\n0\r\n'))).toBe(-1);
    expect(r.push(Buffer.from('\r\n'))).toBe(200);
    expect(r.push(Buffer.from('HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n'))).toBe(201);
  });

  it('knows a bodiless 204, and notes connection: close', () => {
    const r = new ResponseReader();
    expect(r.push(Buffer.from('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'))).toBe(204);
    expect(r.closeAfter).toBe(true);
  });

  it('rejects what is not HTTP/1.1', () => {
    expect(() => new ResponseReader().push(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(/status line/);
    expect(() => new ResponseReader().push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nbody'))).toThrow(/framing/);
  });
});

describe('LeanHttpPool against node:http', () => {
  let server: http.Server;
  let base: string;
  const seen: { method: string; url: string; body: string; headers: http.IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers });
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('part one, ');
          res.end('part two');
        } else if (req.url === '/close') {
          res.writeHead(503, { connection: 'close', 'content-length': '0' });
          res.end();
        } else if (req.url === '/slow') {
          setTimeout(() => res.end('late'), 500);
        } else {
          res.writeHead(req.method === 'POST' ? 202 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true, echo: body }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends method, path, headers and body, and reuses one socket for many requests', async () => {
    const pool = new LeanHttpPool(base, 1);
    const connections = new Set<unknown>();
    server.on('connection', (s) => connections.add(s));
    const body = JSON.stringify({ hello: 'wörld' });
    for (let i = 0; i < 5; i++) {
      const status = await pool.request(encodeRequest(pool.host, { method: 'POST', path: `/things/${i}?x=1`, headers: { 'content-type': 'application/json', 'x-test': 'yes' }, body }), 2_000);
      expect(status).toBe(202);
    }
    expect(await pool.request(encodeRequest(pool.host, { method: 'GET', path: '/chunked', headers: {} }), 2_000)).toBe(200);
    pool.destroy();
    expect(connections.size).toBe(1);
    const last = seen.filter((s) => s.url.startsWith('/things/')).at(-1)!;
    expect(last).toMatchObject({ method: 'POST', url: '/things/4?x=1', body });
    expect(last.headers).toMatchObject({ 'content-type': 'application/json', 'x-test': 'yes', 'content-length': String(Buffer.byteLength(body)) });
  });

  it('runs requests concurrently up to maxSockets, queueing the rest', async () => {
    const pool = new LeanHttpPool(base, 3);
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.request(encodeRequest(pool.host, { method: 'GET', path: `/n/${i}`, headers: {} }), 2_000)));
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    pool.destroy();
  });

  it('opens a new socket after the server closed one, and answers 0 on a timeout', async () => {
    const pool = new LeanHttpPool(base, 1);
    expect(await pool.request(encodeRequest(pool.host, { method: 'GET', path: '/close', headers: {} }), 2_000)).toBe(503);
    expect(await pool.request(encodeRequest(pool.host, { method: 'GET', path: '/after-close', headers: {} }), 2_000)).toBe(200);
    expect(await pool.request(encodeRequest(pool.host, { method: 'GET', path: '/slow', headers: {} }), 100)).toBe(0);
    expect(await pool.request(encodeRequest(pool.host, { method: 'GET', path: '/after-timeout', headers: {} }), 2_000)).toBe(200);
    pool.destroy();
  });

  it('answers 0 when nothing listens', async () => {
    const pool = new LeanHttpPool('http://127.0.0.1:1', 1);
    expect(await pool.request(encodeRequest(pool.host, { method: 'GET', path: '/', headers: {} }), 2_000)).toBe(0);
  });
});
