import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { Express } from 'express';
import request from 'supertest';
import { runOps } from '../scripts/ops/cli';
import type { TestEnv } from './harness';

/** One request of the on-call CLI, as it left the CLI. */
export interface CapturedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface OpsCapture {
  /** Runs the CLI with `args` against the capture and returns the one request it sent. */
  capture(args: string[], io?: { operator?: string }): Promise<CapturedRequest>;
  close(): Promise<void>;
}

/**
 * Stands where the api would and records exactly what the CLI sends (an
 * attacker's captured copy: a proxy log, a shared terminal recording),
 * answering each with `answer` so the CLI exits 0.
 */
export async function startOpsCapture(env: TestEnv, answer: object): Promise<OpsCapture> {
  let captured: CapturedRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      captured.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    async capture(args, io = {}) {
      captured = [];
      const code = await runOps(args, {
        config: env.config,
        db: () => env.db,
        queues: () => {
          throw new Error('not used');
        },
        apiUrl: `http://127.0.0.1:${port}`,
        ...io,
        out: () => undefined,
      });
      if (code !== 0) throw new Error(`ops ${args.join(' ')} exited ${code}`);
      if (captured.length !== 1) throw new Error(`ops ${args.join(' ')} sent ${captured.length} requests, expected 1`);
      return captured[0]!;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Sends a captured request (its signing headers and body, or a changed url/body) to the app. */
export function resend(app: Express, c: CapturedRequest, url = c.url, body = c.body): request.Test {
  let req = request(app).post(url);
  for (const [name, value] of Object.entries(c.headers)) {
    if (/^x-internal-|^content-type$/.test(name) && typeof value === 'string') req = req.set(name, value);
  }
  return req.send(body);
}
