import type { DbOrTx } from '../../lib/db';

/** A session holding or waiting for a lock on link_clicks. */
export interface ClickTableLock {
  pid: number;
  mode: string;
  granted: boolean;
  state: string | null;
  application: string | null;
  /** Since its transaction (else its statement) began. */
  seconds: number;
  query: string | null;
}

export interface CampaignClicks {
  campaignId: string;
  human: number;
  bot: number;
  unique: number;
  newestClickedAt: Date | null;
  newestRecordedAt: Date | null;
  /** Longest wait between a redirect and its row (recorded_at − clicked_at) among clicks recorded in the last hour. */
  maxLagSecondsLastHour: number | null;
}

export interface ClickInspection {
  locks: ClickTableLock[];
  /** Only when asked for a campaign; null when it does not exist. */
  campaign?: CampaignClicks | null;
}

/**
 * What on-call needs when clicks stop reaching Postgres: who holds or waits
 * for a lock on link_clicks (a flush waits behind an exclusive lock until its
 * statement timeout, then retries), and for one campaign, whether its clicks
 * are arriving and how late. Locks are matched on database as well as
 * relation: databases cloned from one template share relation oids, so a
 * lock in another database would otherwise show up here. Read-only; the campaign part is one pass over
 * that campaign's clicks (its index), never over the whole table.
 */
export async function inspectClicks(db: DbOrTx, o: { campaignId?: string } = {}): Promise<ClickInspection> {
  const locks = await db.$queryRaw<{ pid: number; mode: string; granted: boolean; state: string | null; application: string | null; seconds: number | null; query: string | null }[]>`
    SELECT l.pid, l.mode, l.granted, a.state, a.application_name AS application,
           round(extract(epoch FROM now() - COALESCE(a.xact_start, a.query_start))::numeric, 1)::float8 AS seconds, left(a.query, 200) AS query
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.relation = to_regclass('link_clicks') AND l.pid <> pg_backend_pid()
     ORDER BY l.granted DESC, seconds DESC NULLS LAST`;
  const out: ClickInspection = { locks: locks.map((l) => ({ ...l, seconds: l.seconds ?? 0 })) };
  if (o.campaignId === undefined) return out;
  const [row] = await db.$queryRaw<{ found: boolean; human: bigint; bot: bigint; uniq: bigint; newest_clicked: Date | null; newest_recorded: Date | null; max_lag: number | null }[]>`
    SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = ${o.campaignId}::uuid) AS found,
           count(*) FILTER (WHERE NOT k.bot) AS human, count(*) FILTER (WHERE k.bot) AS bot, count(*) FILTER (WHERE k.first) AS uniq,
           max(k.clicked_at) AS newest_clicked, max(k.recorded_at) AS newest_recorded,
           round(max(extract(epoch FROM k.recorded_at - k.clicked_at)) FILTER (WHERE k.recorded_at > now() - interval '1 hour'), 3)::float8 AS max_lag
      FROM link_clicks k WHERE k.campaign_id = ${o.campaignId}::uuid`;
  out.campaign = row?.found
    ? {
        campaignId: o.campaignId,
        human: Number(row.human),
        bot: Number(row.bot),
        unique: Number(row.uniq),
        newestClickedAt: row.newest_clicked,
        newestRecordedAt: row.newest_recorded,
        maxLagSecondsLastHour: row.max_lag,
      }
    : null;
  return out;
}
