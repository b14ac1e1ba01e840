import { createMittoProvider, type MittoProvider } from '../../../domain/messaging/providers/mitto';
import type { OutboundMessage, SendResult } from '../../../domain/messaging/providers/provider';
import { verifySimulatorSignature } from '../../../domain/messaging/providers/simulator-signature';
import { deliveryReportBatchSchema } from '../../../domain/webhooks/sms-payloads';
import { createSimulator, type SimulatorHandle } from './simulator';
import { startCallbackRecorder, type CallbackRecorder } from './test-callback-recorder';

// The simulator's batched delivery reports (SIMULATOR_DLR_BATCH > 1): the
// reports already due go out together as `{"reports": [...]}` under one
// signature, at most the batch size per request; the API's batch schema reads them.

const API_KEY = 'batch-api-key';
const SECRET = 'batch-webhook-secret';

const outbound = (count: number, prefix: string): OutboundMessage[] =>
  Array.from({ length: count }, (_, i) => ({ reference: `${prefix}-${i}`, to: `+4917${String(i).padStart(8, '0')}`, text: `Hello ${i}`, from: 'MyShop', encoding: 'GSM-7' }));

describe('batched delivery reports', () => {
  let recorder: CallbackRecorder;
  let sim: SimulatorHandle;
  let provider: MittoProvider;

  async function start(batch: number, o: { concurrency?: number } = {}): Promise<void> {
    sim = createSimulator({
      apiKey: API_KEY,
      webhookSecret: SECRET,
      dlrEnabled: true,
      dlrUrl: `${recorder.url}/webhooks/sms/simulator/status`,
      dlrDelayMs: 20,
      deliveredRatio: 0.5,
      dlrConcurrency: o.concurrency ?? 2,
      dlrBatch: batch,
    });
    const { url } = await sim.start(0);
    provider = createMittoProvider({ baseUrl: url, apiKey: API_KEY, name: 'simulator', timeoutMs: 5_000 });
  }

  beforeEach(async () => {
    recorder = await startCallbackRecorder();
  });
  afterEach(async () => {
    provider?.close();
    await sim?.stop();
    await recorder.close();
  });

  async function reportsPosted(n: number): Promise<void> {
    for (let i = 0; i < 500 && sim.detail().dlrPosted < n; i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('posts every accepted message once, in signed bodies of at most the batch size that the API schema reads', async () => {
    await start(50);
    const results: SendResult[] = await provider.sendBatch(outbound(230, 'b'), { traceId: 't' });
    await reportsPosted(230);
    const nowSec = Math.floor(Date.now() / 1000);
    const reports = recorder.received.flatMap((cb) => {
      expect(verifySimulatorSignature(SECRET, cb.headers['x-simulator-signature'], cb.rawBody, nowSec)).toBe(true);
      const body = deliveryReportBatchSchema.parse(JSON.parse(cb.rawBody));
      expect(body.reports.length).toBeLessThanOrEqual(50);
      return body.reports;
    });
    // Batched, not one per request.
    expect(recorder.received.length).toBeLessThan(230 / 10);
    const idByRef = new Map(results.map((r) => [r.reference, r.outcome === 'accepted' ? r.providerMessageId : '']));
    expect(reports).toHaveLength(230);
    expect(new Set(reports.map((r) => r.reference)).size).toBe(230);
    for (const r of reports) expect(idByRef.get(r.reference ?? '')).toBe(r.id);
    expect(sim.detail()).toMatchObject({ dlrQueued: 230, dlrPosted: 230, dlrPending: 0, dlrFailed: 0 });
    expect(sim.detail().statusDelivered + sim.detail().statusFailed).toBe(230);
  });

  it('retries a refused body whole, with the same reports, and counts reports rather than requests', async () => {
    let first = true;
    const bodies: string[] = [];
    recorder.respondWith = (cb) => {
      bodies.push(cb.rawBody);
      if (first) {
        first = false;
        return 503;
      }
      return 200;
    };
    await start(500, { concurrency: 1 });
    await provider.sendBatch(outbound(40, 'r'), { traceId: 't' });
    await reportsPosted(40);
    // Batches that fell due meanwhile may go out before the retry; the refused one comes back whole once.
    expect(bodies.filter((b) => b === bodies[0])).toHaveLength(2);
    expect(sim.detail()).toMatchObject({ dlrPosted: 40, dlrFailed: 0, dlrPending: 0 });
  });
});
