import { BoundedMap } from '../../lib/bounded-map';
import type { Db } from '../../lib/db';
import { FLOW_PLACEHOLDERS, parseTemplate, templateLinks } from '../messaging/template';

/** What a redirect needs of a campaign: its links in body order. */
export interface CampaignLinks {
  kind: 'campaign';
  campaignId: string;
  shopId: string;
  urls: string[];
}

/** What a redirect needs of a flow version: each step's links in body order (none for a wait step). */
export interface FlowVersionLinks {
  kind: 'flow';
  flowId: string;
  versionId: string;
  shopId: string;
  steps: string[][];
}

/** What a link number names: a campaign or a flow version (one sequence numbers both). */
export type NumberedLinks = CampaignLinks | FlowVersionLinks;

interface Entry {
  value: NumberedLinks | null;
  until: number;
}

interface Row {
  kind: 'campaign' | 'flow';
  id: string;
  shop_id: string;
  body: string | null;
  version_id: string | null;
  steps: unknown;
}

/**
 * The links of a campaign or flow version by its link number, read once and
 * kept per process (bounded; a campaign's body no longer changes once it has
 * sent and a flow version never does, so only a deletion — a deleted flow, an
 * erased shop — can make an entry stale, for at most `ttlMs`). Concurrent
 * misses of one number share one read. Only codes that passed the signature
 * check get here, so clients cannot make it read numbers of their choosing.
 */
export class LinkNumberCache {
  private readonly entries: BoundedMap<number, Entry>;
  private readonly reading = new Map<number, Promise<NumberedLinks | null>>();

  constructor(
    private readonly db: Db,
    private readonly opts: { max?: number; ttlMs?: number; missTtlMs?: number; now?: () => number } = {},
  ) {
    this.entries = new BoundedMap(opts.max ?? 10_000);
  }

  /** The cached value when there is a fresh one (no promise, no allocation: the hot path). */
  peek(linkNo: number): NumberedLinks | null | undefined {
    const e = this.entries.get(linkNo);
    return e && e.until > this.now() ? e.value : undefined;
  }

  get(linkNo: number): Promise<NumberedLinks | null> {
    const cached = this.peek(linkNo);
    if (cached !== undefined) return Promise.resolve(cached);
    let p = this.reading.get(linkNo);
    if (!p) {
      p = this.read(linkNo).finally(() => this.reading.delete(linkNo));
      this.reading.set(linkNo, p);
    }
    return p;
  }

  private async read(linkNo: number): Promise<NumberedLinks | null> {
    // Two unique-index probes; the shared sequence makes at most one match.
    const [row] = await this.db.$queryRaw<Row[]>`
      SELECT 'campaign' AS kind, id, shop_id, body, NULL::uuid AS version_id, NULL::jsonb AS steps
        FROM campaigns WHERE link_no = ${linkNo}::bigint AND status NOT IN ('draft', 'scheduled')
      UNION ALL
      SELECT 'flow', flow_id, shop_id, NULL, id, steps FROM flow_versions WHERE link_no = ${linkNo}::bigint
      LIMIT 1`;
    const value = row ? toLinks(row) : null;
    this.entries.set(linkNo, { value, until: this.now() + (value ? (this.opts.ttlMs ?? 300_000) : (this.opts.missTtlMs ?? 30_000)) });
    return value;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }
}

function toLinks(row: Row): NumberedLinks | null {
  if (row.kind === 'campaign') {
    const parsed = row.body === null ? null : parseTemplate(row.body);
    return parsed?.ok ? { kind: 'campaign', campaignId: row.id, shopId: row.shop_id, urls: templateLinks(parsed.template) } : null;
  }
  if (row.version_id === null || !Array.isArray(row.steps)) return null;
  const steps = (row.steps as unknown[]).map((s) => {
    const step = s as { type?: unknown; body?: unknown };
    if (step.type !== 'send' || typeof step.body !== 'string') return [];
    const parsed = parseTemplate(step.body, FLOW_PLACEHOLDERS);
    return parsed.ok ? templateLinks(parsed.template) : [];
  });
  return { kind: 'flow', flowId: row.id, versionId: row.version_id, shopId: row.shop_id, steps };
}
