import type { Db } from '../lib/db';
import { createSimulator, type SimulatorHandle } from '../apps/sms-simulator/src/simulator';
import { createMittoProvider, type MittoProvider } from '../domain/messaging/providers';
import { reserveCredits } from '../domain/credits/reservations';
import { createCampaign } from './factories';

// Helpers for send-pipeline tests: an in-process simulator (the provider faked
// at its HTTP boundary), queued campaigns set up as enqueue leaves them, and
// the money invariants every test ends by checking.

export const SIM_API_KEY = 'test-sim-api-key';

/** `dedupsByReference: false` makes every repeat of a reference a second SMS (a provider that does not dedup). */
export async function startSimulator(o: { dedupsByReference?: boolean } = {}): Promise<{ sim: SimulatorHandle; url: string }> {
  const sim = createSimulator({ apiKey: SIM_API_KEY, dlrEnabled: false, host: '127.0.0.1', dedupsByReference: o.dedupsByReference ?? true });
  const { url } = await sim.start(0);
  return { sim, url };
}

/** A provider for the in-process simulator, which dedups by reference unless started otherwise: so does this adapter unless told. */
export function simulatorProvider(url: string, o: { timeoutMs?: number; dedupsByReference?: boolean } = {}): MittoProvider {
  return createMittoProvider({ baseUrl: url, apiKey: SIM_API_KEY, name: 'simulator', timeoutMs: o.timeoutMs ?? 5_000, dedupsByReference: o.dedupsByReference ?? true });
}

/**
 * A campaign in the state enqueue leaves it: `queued` (or `scheduled`), its
 * per-message segment bound and audience size recorded, and an active
 * reservation `campaign-<id>` of recipients × bound.
 */
export async function queuedCampaign(
  db: Db,
  shopId: string,
  o: { body?: string; audience?: { tags?: string[] }; segmentsPerMessage?: number; scheduledAt?: Date; traceId?: string } = {},
): Promise<{ id: string; reserved: number; audience: number }> {
  const status = o.scheduledAt ? 'scheduled' : 'queued';
  const { id } = await createCampaign(db, shopId, { body: o.body, audience: o.audience ?? {}, status, scheduledAt: o.scheduledAt ?? null });
  const tags = o.audience?.tags ?? [];
  const [row] = await db.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM contacts
     WHERE shop_id = ${shopId}::uuid AND sms_consent = 'subscribed' AND opted_out_at IS NULL AND erased_at IS NULL
       AND (cardinality(${tags}::text[]) = 0 OR tags && ${tags}::text[])`;
  const audience = Number(row?.n ?? 0);
  const per = o.segmentsPerMessage ?? 2;
  const reserved = audience * per;
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`
      UPDATE campaigns SET segments_per_message = ${per}::int, total_recipients = ${audience}::int, trace_id = ${o.traceId ?? `trace-${id}`}
       WHERE id = ${id}::uuid`;
    if (reserved > 0) await reserveCredits(tx, { shopId, campaignId: id, reservationKey: `campaign-${id}`, amount: reserved });
  });
  return { id, reserved, audience };
}

/** Turns the shop's quiet hours off (start = end), so tests are not shaped by the hour they run at. */
export async function disableQuietHours(db: Db, shopId: string): Promise<void> {
  await db.$executeRaw`UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00' WHERE id = ${shopId}::uuid`;
}

export interface MoneyState {
  balance: number;
  reserved: number;
  ledgerSum: number;
  debited: number;
  activeRemaining: number;
}

export async function moneyState(db: Db, shopId: string): Promise<MoneyState> {
  const [w] = await db.$queryRaw<{ balance: bigint; reserved: bigint }[]>`SELECT balance, reserved FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
  const [l] = await db.$queryRaw<{ total: bigint | null; debited: bigint | null }[]>`
    SELECT sum(amount) AS total, -sum(amount) FILTER (WHERE type = 'debit') AS debited FROM credit_transactions WHERE shop_id = ${shopId}::uuid`;
  const [r] = await db.$queryRaw<{ remaining: bigint | null }[]>`
    SELECT sum(amount - consumed - released) AS remaining FROM credit_reservations WHERE shop_id = ${shopId}::uuid AND status = 'active'`;
  return {
    balance: Number(w?.balance ?? 0),
    reserved: Number(w?.reserved ?? 0),
    ledgerSum: Number(l?.total ?? 0),
    debited: Number(l?.debited ?? 0),
    activeRemaining: Number(r?.remaining ?? 0),
  };
}

export async function recipientCounts(db: Db, campaignId: string): Promise<Record<string, number>> {
  const rows = await db.$queryRaw<{ status: string; n: bigint }[]>`
    SELECT status, count(*) AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid GROUP BY status`;
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** The batches' `sent` counters beside the rows they count (those with a sent_at): the campaigns list reads the first, the stats the second. */
export async function batchSentCounts(db: Db, campaignId: string): Promise<{ counters: number; rows: number; batchesOff: number }> {
  const [row] = await db.$queryRaw<{ counters: bigint | null; rows: bigint | null; off: bigint }[]>`
    SELECT sum(b.sent) AS counters, sum(r.n) AS rows, count(*) FILTER (WHERE b.sent <> COALESCE(r.n, 0)) AS off
      FROM campaign_batches b
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM campaign_recipients x
                          WHERE x.campaign_id = b.campaign_id AND x.batch_no = b.batch_no AND x.sent_at IS NOT NULL) r ON true
     WHERE b.campaign_id = ${campaignId}::uuid`;
  return { counters: Number(row?.counters ?? 0), rows: Number(row?.rows ?? 0), batchesOff: Number(row?.off ?? 0) };
}

export async function sentSegments(db: Db, campaignId: string): Promise<number> {
  const [row] = await db.$queryRaw<{ s: bigint | null }[]>`
    SELECT sum(segments) AS s FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND status IN ('sent', 'delivered')`;
  return Number(row?.s ?? 0);
}

export async function campaignStatus(db: Db, campaignId: string): Promise<string | undefined> {
  const [row] = await db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${campaignId}::uuid`;
  return row?.status;
}

/** Polls until `check` returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
