export const num = (n: number): string => n.toLocaleString('en-US');

export function dateTime(iso: string | null, timeZone?: string): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone });
}

/**
 * Digits after the decimal point of a currency's minor unit (JPY 0, USD 2,
 * KWD 3): Intl's ISO 4217 data, read as the api reads it
 * (domain/orders/money.ts `minorUnitDigits`), so both sides agree on what a
 * minor unit is.
 */
export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** An amount in minor units (Stripe's, the api's) in its currency: ¥1,500 is 1500 minor units, $15.00 is 1500. */
export function money(minor: number, currency: string): string {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(minor / 10 ** minorDigits(currency));
}

/** A unit price that may be a fraction of the minor unit (0.8 ¢ a credit): up to two digits more than the currency has. */
export function unitPrice(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  return new Intl.NumberFormat('en-US', { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits + 2 }).format(minor / 10 ** digits);
}

/**
 * The api's decimal text ("52.50", "0.0037") in its currency, exactly (Intl
 * takes the string as it is, no float). `extraDigits`: how many digits past
 * the currency's own to keep (the api's rates per message carry two: a cent
 * over many texts would otherwise show as $0.00). Locale: the browser's
 * unless given.
 */
export function decimalMoney(amount: string, currency: string, o: { extraDigits?: number; locale?: string } = {}): string {
  try {
    const digits = minorDigits(currency);
    return new Intl.NumberFormat(o.locale, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits + (o.extraDigits ?? 0) }).format(amount as `${number}`);
  } catch {
    return `${amount} ${currency}`;
  }
}

/**
 * Revenue per currency ("$52.50 + ¥1,500"), each line the api's decimal text
 * shown exactly (decimalMoney): an amount past 2^53 minor units, or any
 * amount read through a float, would show cents that were never earned.
 * "0" when there is none.
 */
export function revenueTotal(lines: readonly { amount: string; currency: string }[] | undefined, locale?: string): string {
  return (lines ?? []).map((r) => decimalMoney(r.amount, r.currency, { locale })).join(' + ') || '0';
}

/**
 * "USD: $0.0037 per message, $0.0019 per credit" (the campaign's results,
 * CampaignPerformanceCard.tsx). The api gives these with
 * two digits more than the currency has (docs/api.md, "Stats"), and shows
 * them all: at the currency's own digits a campaign earning under half a
 * cent a text would read $0.00.
 */
export function revenueRates(r: { currency: string; perMessage: string | null; perCredit: string | null }, locale?: string): string {
  const rate = (v: string | null): string => (v === null ? '—' : decimalMoney(v, r.currency, { extraDigits: 2, locale }));
  return `${r.currency}: ${rate(r.perMessage)} per message, ${rate(r.perCredit)} per credit`;
}
