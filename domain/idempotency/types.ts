/** (shop, method, route template, key): the same key elsewhere is another key. */
export interface IdempotencyScope {
  shopId: string;
  method: string;
  /** The route template, e.g. `/api/campaigns/:id/enqueue`, never the raw path. */
  route: string;
  key: string;
}

/** A successful response kept for replay: status, exact body bytes, replayed headers. */
export interface StoredResponse {
  status: number;
  /** The body exactly as first sent (UTF-8 text), or null for an empty body. */
  body: string | null;
  headers: Record<string, string>;
}

/** A held key: the fence proves this holder still owns it. */
export interface HeldKey {
  id: string;
  fence: number;
}

export type ClaimResult =
  | ({ kind: 'claimed'; takeover: boolean } & HeldKey)
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in_progress' }
  | { kind: 'reused' };
