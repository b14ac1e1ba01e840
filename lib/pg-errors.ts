// Postgres error codes, however deep a caller wrapped them.

export const PG = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;

export function pgErrorCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const e = cur as { code?: unknown; originalCode?: unknown; meta?: { code?: unknown; driverAdapterError?: unknown }; cause?: unknown };
    for (const c of [e.originalCode, e.meta?.code, e.code]) {
      if (typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c) && !c.startsWith('P')) return c;
    }
    cur = e.cause ?? e.meta?.driverAdapterError;
  }
  return undefined;
}

/** The constraint a Postgres error names (unique, check, foreign key), if any. */
export function pgConstraint(err: unknown): string | undefined {
  const c = (err as { constraint?: unknown } | null)?.constraint;
  return typeof c === 'string' ? c : undefined;
}

export const isUniqueViolation = (err: unknown): boolean => pgErrorCode(err) === PG.uniqueViolation;
export const isCheckViolation = (err: unknown): boolean => pgErrorCode(err) === PG.checkViolation;
export const isRetryableTxError = (err: unknown): boolean => {
  const code = pgErrorCode(err);
  return code === PG.serializationFailure || code === PG.deadlockDetected;
};
