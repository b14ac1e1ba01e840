import { createMittoProvider } from '../../../domain/messaging/providers/mitto';
import type { OutboundMessage } from '../../../domain/messaging/providers/provider';
import { createSimulator } from '../src/simulator';

// Not a test: rough msgs/s through the Mitto adapter into the simulator.
//   npx tsx apps/sms-simulator/bench/throughput.ts              (simulator in-process)
//   SIM_URL=http://127.0.0.1:4010 npx tsx apps/sms-simulator/bench/throughput.ts
// Env: TOTAL (100000), CHUNK (1000), PARALLEL (4), SIM_API_KEY (dev-sms-api-key).

async function main(): Promise<void> {
  const total = Number(process.env.TOTAL ?? 100_000);
  const chunk = Number(process.env.CHUNK ?? 1000);
  const parallel = Number(process.env.PARALLEL ?? 4);
  const apiKey = process.env.SIM_API_KEY ?? 'dev-sms-api-key';
  const external = process.env.SIM_URL;

  const sim = external ? undefined : createSimulator({ apiKey, dlrEnabled: false });
  const baseUrl = external ?? (await sim?.start(0))?.url ?? '';
  const provider = createMittoProvider({ baseUrl, apiKey, name: 'simulator', maxSockets: parallel });
  const runId = Date.now().toString(36);

  const batches: OutboundMessage[][] = [];
  for (let start = 0; start < total; start += chunk) {
    const batch: OutboundMessage[] = [];
    for (let i = start; i < Math.min(start + chunk, total); i++) {
      batch.push({
        reference: `${runId}-${i}`,
        to: `+4917${String(i).padStart(8, '0')}`,
        text: `Hi there, your code is ${i}. Reply STOP to opt out.`,
        from: 'MyShop',
        encoding: 'GSM-7',
      });
    }
    batches.push(batch);
  }

  let next = 0;
  let accepted = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < batches.length) {
        const batch = batches[next++] as OutboundMessage[];
        for (const r of await provider.sendBatch(batch, { traceId: `bench-${runId}` })) {
          if (r.outcome === 'accepted') accepted++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  provider.close();
  await sim?.stop();
  process.stdout.write(
    `${JSON.stringify({ total, accepted, chunk, parallel, seconds: Number(seconds.toFixed(3)), msgsPerSecond: Math.round(total / seconds), simulator: external ? 'separate process' : 'in-process' })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
