import { idFromReference } from '../messaging/reference-id';

/** Our client reference for a flow message: `f<id>` (campaign recipients are `r<id>`, keyword replies `k<id>`). */
export const flowMessageReference = (id: string | bigint): string => `f${id}`;

/** The flow_messages id named by one of our references, or null for anything else. */
export function flowMessageIdFromReference(reference: string | null | undefined): string | null {
  return idFromReference('f', reference);
}
