import { BoundedMap } from '../../lib/bounded-map';
import type { Db } from '../../lib/db';
import { provisionShop, type ShopRow } from './provision-shop';

/**
 * provisionShop behind a short per-process memory: every /api request names
 * its shop, and reading the same row again within a second is a round trip
 * each request pays for nothing. A change of the shop's status (uninstall)
 * is seen within `ttlMs` — it already reaches us only when its webhook is
 * processed. 0 turns the memory off. Only the row's identity and status are
 * kept; bounded, oldest dropped first.
 */
export interface ShopLookup {
  (domain: string): Promise<ShopRow>;
  /** Drops what is remembered of a shop (its token or status just changed here). */
  forget(domain: string): void;
}

export function shopLookup(db: Db, o: { defaultSender: string; ttlMs: number; max?: number; now?: () => number }): ShopLookup {
  const now = o.now ?? Date.now;
  const known = new BoundedMap<string, { shop: ShopRow; until: number }>(o.max ?? 10_000);
  const lookup = async (domain: string): Promise<ShopRow> => {
    const hit = known.get(domain);
    if (hit && hit.until > now()) return hit.shop;
    const shop = await provisionShop(db, domain, o.defaultSender);
    if (o.ttlMs > 0) {
      // Re-added, not replaced: a row read again is the newest, the last to be dropped.
      known.delete(domain);
      known.set(domain, { shop, until: now() + o.ttlMs });
    }
    return shop;
  };
  return Object.assign(lookup, { forget: (domain: string) => void known.delete(domain) });
}
