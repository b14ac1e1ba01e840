// The invariants every scenario ends by proving, from Postgres and from the
// simulator's own ledger (`GET /_stats`, `GET /_stats?reference=`):
//
//  sends      the provider accepted each reference at most once
//             (messagesAccepted = uniqueReferences), and what it accepted is
//             exactly what we recorded as sent (rows with sent_at, whatever
//             their delivery report said since) plus any claimed-but-never-
//             recorded row the provider did take (an `unknown` outcome);
//             every sampled sent row's reference was sent once, under the
//             provider id we stored.
//  recovery   no recipient is left pending or sending; the campaign completed.
//  money      credits debited for the campaign = Σ segments of its recorded
//             sends; its reservation is closed with consumed + released =
//             amount; for EVERY shop, wallet balance = Σ ledger and
//             wallet.reserved = Σ active reservation remainders = 0.
//  counters   each batch's `sent` (the campaigns list's base for rates) =
//             its rows with a sent_at.

import { recipientReference } from '../../domain/campaigns/render-batch';
import type { Db } from '../../lib/db';
import type { ScenarioReport } from './report';

interface SimStats {
  requests: number;
  messagesAccepted: number;
  uniqueReferences: number;
  duplicatesSuppressed: number;
  /** Repeats of a reference sent again (only a simulator that does not dedup sends them). */
  duplicatesSent: number;
}

interface PerReference {
  sends: number;
  duplicates: number;
  providerId: string | null;
}

export async function simulatorStats(simUrl: string): Promise<SimStats> {
  const res = await fetch(`${simUrl}/_stats`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`simulator /_stats answered ${res.status}`);
  return (await res.json()) as SimStats;
}

export async function referenceStats(simUrl: string, reference: string): Promise<PerReference> {
  const res = await fetch(`${simUrl}/_stats?reference=${encodeURIComponent(reference)}`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`simulator /_stats?reference answered ${res.status}`);
  return ((await res.json()) as { perReference: PerReference }).perReference;
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function pool<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        results[i] = await fn(items[i] as T);
      }
    }),
  );
  return results;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

export interface CampaignCheck {
  db: Db;
  simUrl: string;
  /** Every campaign that sent through this simulator (its counters are global). */
  campaigns: { id: string; shopId: string; expectedRecipients: number; label?: string }[];
  /** How many recorded sends to look up one by one at the simulator (all of them when fewer). */
  sample: number;
}

export async function checkCampaigns(report: ScenarioReport, c: CampaignCheck): Promise<void> {
  const { db } = c;
  const ids = c.campaigns.map((x) => x.id);
  for (const campaign of c.campaigns) await checkOneCampaign(report, db, campaign);

  // Sends: the simulator's ledger against ours, over every campaign it served.
  const [rec] = await db.$queryRaw<{ sent: bigint; distinct_ids: bigint }[]>`
    SELECT count(*) AS sent, count(DISTINCT provider_message_id) AS distinct_ids
      FROM campaign_recipients WHERE campaign_id = ANY(${ids}::uuid[]) AND sent_at IS NOT NULL`;
  const recordedSent = Number(rec?.sent ?? 0);
  // Claimed at least once but never recorded as sent: the provider must not hold
  // them, except an `unknown` outcome it did take (never charged).
  const unrecorded = await db.$queryRaw<{ id: bigint; status: string }[]>`
    SELECT id, status FROM campaign_recipients
     WHERE campaign_id = ANY(${ids}::uuid[]) AND sent_at IS NULL AND attempt > 0 AND status NOT IN ('skipped', 'cancelled')`;
  const sim = await simulatorStats(c.simUrl);
  const unrecordedStats = await pool(unrecorded, 32, (r) => referenceStats(c.simUrl, recipientReference(String(r.id))));
  const unrecordedAccepted = unrecordedStats.filter((s) => s.sends > 0).length;
  const unknownAccepted = unrecorded.filter((r, i) => r.status === 'unknown' && (unrecordedStats[i]?.sends ?? 0) > 0).length;

  report.check(
    'provider sent each reference at most once',
    sim.messagesAccepted === sim.uniqueReferences,
    `messagesAccepted ${fmt(sim.messagesAccepted)} = uniqueReferences ${fmt(sim.uniqueReferences)} (duplicates suppressed ${fmt(sim.duplicatesSuppressed)}, requests ${fmt(sim.requests)})`,
  );
  report.check(
    'provider sends = recorded sends (+ unknown outcomes it took)',
    sim.messagesAccepted === recordedSent + unrecordedAccepted && unrecordedAccepted === unknownAccepted,
    `accepted ${fmt(sim.messagesAccepted)} = recorded ${fmt(recordedSent)} + unrecorded-but-accepted ${unrecordedAccepted} ` +
      `(${unrecorded.length} claimed rows never recorded as sent, ${unknownAccepted} of them unknown and accepted)`,
  );
  report.check('one provider id per recorded send', Number(rec?.distinct_ids ?? 0) === recordedSent, `${fmt(Number(rec?.distinct_ids ?? 0))} distinct ids for ${fmt(recordedSent)} sends`);

  const sample = await db.$queryRaw<{ id: bigint; provider_message_id: string }[]>`
    SELECT id, provider_message_id FROM campaign_recipients
     WHERE campaign_id = ANY(${ids}::uuid[]) AND sent_at IS NOT NULL
     ORDER BY random() LIMIT ${c.sample}::int`;
  const sampled = await pool(sample, 32, async (r) => ({ r, s: await referenceStats(c.simUrl, recipientReference(String(r.id))) }));
  const wrong = sampled.filter(({ r, s }) => s.sends !== 1 || s.providerId !== r.provider_message_id);
  const resent = sampled.filter(({ s }) => s.duplicates > 0).length;
  report.check(
    'each recorded send was sent exactly once, under our stored id',
    wrong.length === 0 && sample.length === Math.min(c.sample, recordedSent),
    `${fmt(sampled.length)} of ${fmt(recordedSent)} looked up at /_stats?reference=: ${wrong.length} wrong, ${resent} had suppressed repeats`,
  );
}

async function checkOneCampaign(report: ScenarioReport, db: Db, c: CampaignCheck['campaigns'][number]): Promise<void> {
  const tag = c.label ? ` [${c.label}]` : '';
  const [campaign] = await db.$queryRaw<{ status: string; total_recipients: number }[]>`
    SELECT status, total_recipients FROM campaigns WHERE id = ${c.id}::uuid`;
  const groups = await db.$queryRaw<{ status: string; n: bigint }[]>`
    SELECT status, count(*) AS n FROM campaign_recipients WHERE campaign_id = ${c.id}::uuid GROUP BY status ORDER BY status`;
  const counts = Object.fromEntries(groups.map((g) => [g.status, Number(g.n)]));
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const breakdown = groups.map((g) => `${g.status} ${fmt(Number(g.n))}`).join(', ');

  report.check(`campaign completed${tag}`, campaign?.status === 'completed', `status ${campaign?.status ?? 'missing'}`);
  const open = (counts.pending ?? 0) + (counts.sending ?? 0);
  report.check(`no recipient left pending/sending${tag}`, open === 0, `pending ${counts.pending ?? 0}, sending ${counts.sending ?? 0} (${breakdown})`);
  report.check(
    `every audience member is a recipient once${tag}`,
    total === c.expectedRecipients && campaign?.total_recipients === total,
    `${fmt(total)} recipient rows, total_recipients ${fmt(campaign?.total_recipients ?? -1)}, audience ${fmt(c.expectedRecipients)}`,
  );

  const [rec] = await db.$queryRaw<{ segments: bigint | null }[]>`
    SELECT sum(segments) AS segments FROM campaign_recipients WHERE campaign_id = ${c.id}::uuid AND sent_at IS NOT NULL`;
  const sentSegments = Number(rec?.segments ?? 0);
  const [debit] = await db.$queryRaw<{ debited: bigint | null; rows: bigint }[]>`
    SELECT -sum(amount) AS debited, count(*) AS rows FROM credit_transactions
     WHERE shop_id = ${c.shopId}::uuid AND type = 'debit' AND reference = ${`campaign:${c.id}`}`;
  const debited = Number(debit?.debited ?? 0);
  report.check(`credits debited = Σ segments of recorded sends${tag}`, debited === sentSegments, `debited ${fmt(debited)} in ${fmt(Number(debit?.rows ?? 0))} ledger rows, segments ${fmt(sentSegments)}`);

  // The batches' counters the campaigns list reads against the rows they count.
  const [counters] = await db.$queryRaw<{ counted: bigint | null; off: bigint }[]>`
    SELECT sum(b.sent) AS counted, count(*) FILTER (WHERE b.sent <> r.n) AS off
      FROM campaign_batches b
      CROSS JOIN LATERAL (SELECT count(*) AS n FROM campaign_recipients x
                           WHERE x.campaign_id = b.campaign_id AND x.batch_no = b.batch_no AND x.sent_at IS NOT NULL) r
     WHERE b.campaign_id = ${c.id}::uuid`;
  const [went] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${c.id}::uuid AND sent_at IS NOT NULL`;
  report.check(
    `batch sent counters = recorded sends${tag}`,
    Number(counters?.off ?? 1) === 0 && Number(counters?.counted ?? 0) === Number(went?.n ?? -1),
    `Σ counters ${fmt(Number(counters?.counted ?? 0))}, recorded sends ${fmt(Number(went?.n ?? 0))}, ${fmt(Number(counters?.off ?? 0))} batches off`,
  );

  const reservations = await db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint; status: string }[]>`
    SELECT amount, consumed, released, status FROM credit_reservations WHERE campaign_id = ${c.id}::uuid`;
  const r = reservations[0];
  report.check(
    `reservation closed, consumed + released = amount${tag}`,
    reservations.length === 1 && r?.status === 'closed' && r.consumed + r.released === r.amount,
    r ? `${reservations.length} reservation(s): amount ${fmt(Number(r.amount))}, consumed ${fmt(Number(r.consumed))}, released ${fmt(Number(r.released))}, ${r.status}` : 'no reservation',
  );
}

/** Ledger = wallet and reserved = Σ active remainders (= 0 once nothing is in flight), for every shop of the database. */
export async function checkMoney(report: ScenarioReport, db: Db, o: { expectNothingReserved: boolean }): Promise<void> {
  const rows = await db.$queryRaw<{ shop_id: string; balance: bigint; ledger: bigint; reserved: bigint; active: bigint }[]>`
    SELECT w.shop_id, w.balance, coalesce(l.total, 0)::bigint AS ledger, w.reserved, coalesce(r.total, 0)::bigint AS active
      FROM credit_wallets w
      LEFT JOIN LATERAL (SELECT sum(amount) AS total FROM credit_transactions t WHERE t.shop_id = w.shop_id) l ON true
      LEFT JOIN LATERAL (SELECT sum(amount - consumed - released) AS total FROM credit_reservations r
                          WHERE r.shop_id = w.shop_id AND r.status = 'active') r ON true`;
  const ledgerOff = rows.filter((w) => w.balance !== w.ledger);
  const reservedOff = rows.filter((w) => w.reserved !== w.active);
  const stillReserved = rows.filter((w) => w.reserved !== 0n);
  const sum = (f: (w: (typeof rows)[number]) => bigint): string => fmt(Number(rows.reduce((a, w) => a + f(w), 0n)));
  report.check(
    'ledger sum = wallet balance, every shop',
    rows.length > 0 && ledgerOff.length === 0,
    `${rows.length} shops, ${ledgerOff.length} mismatched (Σ balance ${sum((w) => w.balance)}, Σ ledger ${sum((w) => w.ledger)})`,
  );
  report.check(
    o.expectNothingReserved ? 'wallet.reserved = Σ active reservation remainders = 0, every shop' : 'wallet.reserved = Σ active reservation remainders, every shop',
    reservedOff.length === 0 && (!o.expectNothingReserved || stillReserved.length === 0),
    `${reservedOff.length} mismatched, ${stillReserved.length} still reserving (Σ reserved ${sum((w) => w.reserved)}, Σ active remainders ${sum((w) => w.active)})`,
  );
}
