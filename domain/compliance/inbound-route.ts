import type { Tx } from '../../lib/db';
import { senderScope, shopScope, type SuppressionScope } from './suppressions';

/**
 * Where an inbound text to `to` belongs:
 *  - `owned`: the one shop that owns that sender (no other shop sends as it);
 *  - `shared`: shops that send as it without owning it (the platform's default
 *    sender, or a sender several shops had before ownership existed): the
 *    text belongs to none of them, yet an opt-out binds all of them;
 *  - `none`: no shop sends as it (e.g. the provider's reply number for
 *    alphanumeric senders): an opt-out binds every send.
 */
export type InboundRoute =
  | { kind: 'owned'; shopId: string; scope: SuppressionScope }
  | { kind: 'shared'; shopIds: string[]; scope: SuppressionScope }
  | { kind: 'none'; scope: SuppressionScope };

export async function routeInbound(tx: Tx, to: string): Promise<InboundRoute> {
  // Numeric senders are stored without `+`; providers may report `to` in E.164.
  const sender = /^\+[0-9]{3,15}$/.test(to.trim()) ? to.trim().slice(1) : to.trim();
  // Owned senders match case-insensitively (as they are unique); shared ones as stored.
  const shops = await tx.$queryRaw<{ id: string; sender_owned: boolean }[]>`
    SELECT id, sender_owned FROM shops WHERE sender_id = ${sender} OR (sender_owned AND lower(sender_id) = lower(${sender}))`;
  const owners = shops.filter((s) => s.sender_owned);
  if (owners.length === 1 && shops.length === 1) return { kind: 'owned', shopId: owners[0]!.id, scope: shopScope(owners[0]!.id) };
  if (shops.length > 0) return { kind: 'shared', shopIds: shops.map((s) => s.id), scope: senderScope(sender) };
  return { kind: 'none', scope: 'all' };
}
