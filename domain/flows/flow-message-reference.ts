/** Our client reference for a flow message: `f<id>` (campaign recipients are `r<id>`, keyword replies `k<id>`). */
export const flowMessageReference = (id: string | bigint): string => `f${id}`;

/** The flow_messages id named by one of our references, or null for anything else. */
export function flowMessageIdFromReference(reference: string | null | undefined): string | null {
  const m = reference ? /^f([1-9][0-9]{0,18})$/.exec(reference) : null;
  return m && BigInt(m[1] as string) <= 9223372036854775807n ? (m[1] as string) : null;
}
