/** Digits after the decimal point in a currency's minor unit (JPY 0, USD 2, KWD 3), from the ISO 4217 data Node ships. */
export function minorUnitDigits(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/**
 * A decimal amount as Shopify writes it ("12.50") in minor units of its
 * currency, exactly (string arithmetic, no float). Digits past the minor unit
 * are rounded half up. Null when the text is not a plain non-negative decimal.
 */
export function toMinorUnits(amount: string, currency: string): bigint | null {
  const m = /^(\d{1,15})(?:\.(\d{1,6}))?$/.exec(amount);
  if (!m) return null;
  const digits = minorUnitDigits(currency);
  const frac = (m[2] ?? '').padEnd(digits + 1, '0');
  const units = BigInt(m[1]!) * 10n ** BigInt(digits) + BigInt(frac.slice(0, digits) || '0');
  const roundUp = Number(frac[digits] ?? '0') >= 5 ? 1n : 0n;
  return units + roundUp;
}

/**
 * As toMinorUnits, for an amount that may be negative ("-5.00": an order
 * adjustment of a refund). Null when the text is not a plain decimal.
 */
export function toSignedMinorUnits(amount: string, currency: string): bigint | null {
  const negative = amount.startsWith('-');
  const minor = toMinorUnits(negative ? amount.slice(1) : amount, currency);
  return minor === null ? null : negative ? -minor : minor;
}

/** Minor units as the decimal text Shopify writes ("12.50"), exactly. */
export function minorToDecimal(minor: bigint, currency: string): string {
  const digits = minorUnitDigits(currency);
  const negative = minor < 0n;
  const abs = (negative ? -minor : minor).toString().padStart(digits + 1, '0');
  const text = digits === 0 ? abs : `${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
  return negative ? `-${text}` : text;
}

/** Minor units in major units, as a number (for counters; never for money kept or shown). */
export function minorToMajor(minor: bigint, currency: string): number {
  return Number(minorToDecimal(minor, currency));
}
