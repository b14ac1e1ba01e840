import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySimulatorSignature } from '../../../domain/messaging/providers/simulator-signature';
import { DlrDispatcher } from './dlr-dispatcher';

// The report callbacks' own bounds: a receiver that never answers costs a
// callback its timeout and then a retry, and a reset drops what is in flight.

const SECRET = 'dispatcher-secret';

interface Receiver {
  url: string;
  /** Requests answered 200, by raw body. */
  answered: string[];
  /** Requests left open; `hang` decides per request. */
  open: http.ServerResponse[];
  closedByClient: number;
  hang: (index: number) => boolean;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  let index = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (!verifySimulatorSignature(SECRET, req.headers['x-simulator-signature'], raw, Math.floor(Date.now() / 1000))) {
        res.writeHead(401).end();
        return;
      }
      if (r.hang(index++)) {
        r.open.push(res);
        res.on('close', () => {
          if (!res.writableEnded) r.closedByClient++;
        });
        return;
      }
      r.answered.push(raw);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const r: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/sms/simulator/status`,
    answered: [],
    open: [],
    closedByClient: 0,
    hang: () => false,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return r;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('delivery-report callbacks', () => {
  let receiver: Receiver;
  let dispatcher: DlrDispatcher | undefined;

  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    dispatcher?.stop();
    await receiver.close();
  });

  function dispatch(o: { concurrency: number; timeoutMs?: number }): DlrDispatcher {
    dispatcher = new DlrDispatcher({
      url: receiver.url,
      providerId: (seq) => `sim-${seq}`,
      secret: SECRET,
      delayMs: 0,
      deliveredRatio: 1,
      concurrency: o.concurrency,
      maxPending: 100,
      timeoutMs: o.timeoutMs ?? 5_000,
      retryDelaysMs: [10, 10],
    });
    return dispatcher;
  }

  it('gives up on a callback the receiver does not answer within the timeout and posts the same report again', async () => {
    receiver.hang = (i) => i === 0;
    const d = dispatch({ concurrency: 1, timeoutMs: 200 });
    const started = Date.now();
    d.enqueue(1, 'r1');
    await until(() => d.stats().dlrPosted === 1, 'the retried report');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(receiver.answered).toHaveLength(1);
    expect(JSON.parse(receiver.answered[0] as string)).toMatchObject({ id: 'sim-1', reference: 'r1', status: 'delivered' });
    expect(d.stats()).toMatchObject({ dlrPosted: 1, dlrFailed: 0, dlrPending: 0, dlrInFlight: 0 });
  });

  it('a reset aborts the callbacks in flight, forgets their reports and keeps posting new ones', async () => {
    receiver.hang = (i) => i < 3;
    const d = dispatch({ concurrency: 3 });
    for (const seq of [1, 2, 3]) d.enqueue(seq, `r${seq}`);
    await until(() => receiver.open.length === 3, 'three callbacks held open');
    expect(d.stats().dlrInFlight).toBe(3);

    d.reset();
    await until(() => receiver.closedByClient === 3, 'the held callbacks to be abandoned');
    expect(d.stats()).toMatchObject({ dlrInFlight: 0, dlrPending: 0, dlrPosted: 0, dlrQueued: 0 });

    d.enqueue(4, 'r4');
    await until(() => d.stats().dlrPosted === 1, 'the report queued after the reset');
    expect(receiver.answered.map((b) => JSON.parse(b).id)).toEqual(['sim-4']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Nothing of the aborted callbacks came back as a retry.
    expect(receiver.answered).toHaveLength(1);
    expect(d.stats()).toMatchObject({ dlrPosted: 1, dlrFailed: 0 });
  });
});
