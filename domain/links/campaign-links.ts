import { BoundedMap } from '../../lib/bounded-map';
import type { Db } from '../../lib/db';
import { parseTemplate, templateLinks } from '../messaging/template';

/** What a redirect needs of a campaign: its links in body order. */
export interface CampaignLinks {
  campaignId: string;
  shopId: string;
  urls: string[];
}

interface Entry {
  value: CampaignLinks | null;
  until: number;
}

/**
 * A campaign's links by its link number, read once and kept per process
 * (bounded; a body no longer changes once the campaign has sent, so only a
 * deleted campaign — an erased shop — can make an entry stale, for at most
 * `ttlMs`). Concurrent misses of one number share one read. Only codes that
 * passed the signature check get here, so clients cannot make it read
 * numbers of their choosing.
 */
export class CampaignLinksCache {
  private readonly entries: BoundedMap<number, Entry>;
  private readonly reading = new Map<number, Promise<CampaignLinks | null>>();

  constructor(
    private readonly db: Db,
    private readonly opts: { max?: number; ttlMs?: number; missTtlMs?: number; now?: () => number } = {},
  ) {
    this.entries = new BoundedMap(opts.max ?? 10_000);
  }

  /** The cached value when there is a fresh one (no promise, no allocation: the hot path). */
  peek(linkNo: number): CampaignLinks | null | undefined {
    const e = this.entries.get(linkNo);
    return e && e.until > this.now() ? e.value : undefined;
  }

  get(linkNo: number): Promise<CampaignLinks | null> {
    const cached = this.peek(linkNo);
    if (cached !== undefined) return Promise.resolve(cached);
    let p = this.reading.get(linkNo);
    if (!p) {
      p = this.read(linkNo).finally(() => this.reading.delete(linkNo));
      this.reading.set(linkNo, p);
    }
    return p;
  }

  private async read(linkNo: number): Promise<CampaignLinks | null> {
    const [row] = await this.db.$queryRaw<{ id: string; shop_id: string; body: string }[]>`
      SELECT id, shop_id, body FROM campaigns WHERE link_no = ${linkNo}::bigint AND status NOT IN ('draft', 'scheduled')`;
    const parsed = row ? parseTemplate(row.body) : null;
    const value = row && parsed?.ok ? { campaignId: row.id, shopId: row.shop_id, urls: templateLinks(parsed.template) } : null;
    this.entries.set(linkNo, { value, until: this.now() + (value ? (this.opts.ttlMs ?? 300_000) : (this.opts.missTtlMs ?? 30_000)) });
    return value;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }
}
