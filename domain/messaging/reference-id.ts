const MAX_BIGINT = 9223372036854775807n;

/**
 * The row id one of our client references names (`<prefix><id>`: `r` a
 * campaign recipient, `f` a flow message, `k` a keyword reply), or null for
 * anything else. Bounded to Postgres' bigint: a provider echoing a larger
 * number gets "not ours", not a statement that fails (and with it every
 * other report of its pass).
 */
export function idFromReference(prefix: 'r' | 'f' | 'k', reference: string | null | undefined): string | null {
  if (!reference || reference[0] !== prefix) return null;
  const digits = reference.slice(1);
  return /^[1-9][0-9]{0,18}$/.test(digits) && BigInt(digits) <= MAX_BIGINT ? digits : null;
}
