// What smart sending and recipient quiet hours add to a batch claim, per
// recipient (docs/architecture.md, "Smart sending and recipient quiet
// hours"). Against a scratch database named by DATABASE_URL, migrated:
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch npx tsx scripts/measure-claim-cost.ts [contacts]
// Prints milliseconds per 1 000-recipient batch for each way of claiming.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createDb } from '../lib/db';
import { claimBatch, releaseClaim } from '../domain/campaigns/claim-batch';
import { launchCampaign } from '../domain/campaigns/launch-campaign';
import { applyWalletChange } from '../domain/credits/apply-wallet-change';
import { reserveCredits } from '../domain/credits/reservations';
import { sendTimeCheck } from '../domain/compliance/send-time';
import type { Producer } from '../queue/producer';

const CONTACTS = Number(process.argv[2] ?? 50_000);
const BATCH = 1_000;

async function main(): Promise<void> {
  const db = createDb({ DATABASE_URL: process.env.DATABASE_URL ?? '', DATABASE_POOL_SIZE: 4, DATABASE_STATEMENT_TIMEOUT_MS: 600_000 });
  const producer = { add: async () => undefined, addBulk: async () => undefined } as unknown as Producer;
  const [shop] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO shops (domain, sender_id) VALUES (${`measure-${randomUUID()}.myshopify.com`}, 'Measure') RETURNING id`;
  const shopId = shop!.id;
  await db.$executeRaw`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, sms_consent)
    SELECT ${shopId}::uuid, p, md5(p), 'Friend', 'subscribed'
      FROM generate_series(0, ${CONTACTS - 1}::int) g, LATERAL (SELECT CASE WHEN g % 2 = 0 THEN '+1212' ELSE '+4479' END || (2000000 + g)::text AS p) x`;
  await db.$executeRawUnsafe('ANALYZE contacts');
  // The launch materialises as pending only the recipients a reservation pays for (one segment each here).
  await db.$transaction((tx) => applyWalletChange(tx, { shopId, type: 'grant', amount: 2 * CONTACTS, idempotencyKey: 'measure-grant', reference: 'measure' }));
  const now = new Date('2026-12-02T20:00:00Z');

  async function campaign(): Promise<{ id: string; batches: number }> {
    const [c] = await db.$queryRaw<{ id: string }[]>`
      INSERT INTO campaigns (shop_id, name, body, status, segments_per_message) VALUES (${shopId}::uuid, 'm', 'Hi {{firstName}}', 'queued', 1) RETURNING id`;
    await db.$transaction((tx) => reserveCredits(tx, { shopId, campaignId: c!.id, reservationKey: `campaign-${c!.id}`, amount: CONTACTS }));
    const r = await launchCampaign({ db, producer, now: () => now, batchSize: BATCH }, { campaignId: c!.id, shopId, traceId: 'measure' });
    if (r.outcome !== 'launched') throw new Error(`launch: ${r.outcome}`);
    return { id: c!.id, batches: r.batches };
  }

  async function pass(label: string, c: { id: string; batches: number }, o: { cap?: { windowHours: number | null }; quiet?: boolean }): Promise<void> {
    let ms = 0;
    let skipped = 0;
    for (let b = 0; b < c.batches; b++) {
      const token = randomUUID();
      const t0 = performance.now();
      const r = await claimBatch(db, {
        campaignId: c.id,
        batchNo: b,
        token,
        now,
        leaseMs: 60_000,
        dedupsByReference: false,
        quietHours: o.quiet ? sendTimeCheck({ timezone: 'UTC', quietStart: '21:00', quietEnd: '08:00' }, now, { floor: true }) : undefined,
        frequencyCap: o.cap ? { shopId, windowHours: o.cap.windowHours } : null,
      });
      ms += performance.now() - t0;
      if (r.outcome === 'claimed') skipped += r.recipients.filter((x) => x.skipReason === 'frequency_cap').length;
      await releaseClaim(db, { campaignId: c.id, batchNo: b, token, takeover: false, now });
    }
    const perBatch = ms / c.batches;
    console.log(`${label.padEnd(62)} ${perBatch.toFixed(1).padStart(7)} ms/batch  ${((perBatch * 1000) / BATCH).toFixed(1).padStart(6)} µs/recipient  (capped ${skipped})`);
  }

  const a = await campaign();
  const b = await campaign();
  // Warm-up, then each way in turn over the same 1 000-recipient batches.
  await pass('warm-up (no slots, no quiet hours)', a, {});
  await pass('claim without slots or quiet hours (before)', a, {});
  await pass('+ recipient quiet hours (JS, per distinct zone set)', a, { quiet: true });
  await pass('+ send slots, first message per contact (INSERT)', a, { cap: { windowHours: 16 }, quiet: true });
  await pass('+ send slots, same campaign again (retry: UPDATE)', a, { cap: { windowHours: 16 }, quiet: true });
  await pass('+ send slots, another campaign inside the window (all capped)', b, { cap: { windowHours: 16 }, quiet: true });
  await pass('+ send slots, another campaign, cap not enforced (UPDATE)', b, { cap: { windowHours: null }, quiet: true });
  await db.$disconnect();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
