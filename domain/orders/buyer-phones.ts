import { isPhoneCountry, normalizePhone } from '../contacts/phone';

/** An address of the order as Shopify writes it: a number typed with it, and its ISO country. */
export interface AddressPhone {
  phone: string | null;
  countryCode: string | null;
}

/** The numbers an order body carries, as typed. */
export interface OrderPhoneFields {
  /** `phone`: the number the buyer gave at checkout (SMS-first checkouts ask for it). */
  orderPhone: string | null;
  /** `customer.phone`: the number on the Shopify customer record the order names. */
  customerPhone: string | null;
  billing: AddressPhone | null;
  shipping: AddressPhone | null;
}

/**
 * The buyer's numbers in E.164, each null when absent, not a valid number,
 * or not read (below). Only these are matched against contacts, and only
 * these are kept in the stored payload: already E.164, they read the same
 * again on a replay, and customers/redact finds them by the number.
 */
export interface BuyerPhones {
  order: string | null;
  customer: string | null;
  billing: string | null;
  shipping: string | null;
}

const countryOf = (a: AddressPhone | null) => {
  const code = a?.countryCode?.trim().toUpperCase();
  return code && isPhoneCountry(code) ? code : undefined;
};

/**
 * Which of an order's numbers are the buyer's, normalised as a contact's
 * number is (normalizePhone: E.164, valid by the full metadata, no
 * extension). A number written without its country code is read in the
 * country of the address it came with; the order's and the customer's own
 * number, which come with none, in the billing address's country, else the
 * shipping address's. An invalid number is dropped, never guessed at.
 *
 * Order of trust: the order's `phone` and the customer's are the buyer's own
 * numbers; the billing address's (the payer's) and then the shipping
 * address's are read only when the order has neither as a valid number (a
 * POS or draft order): a shipping address may be a gift's recipient, who
 * must not be taken for the buyer when the buyer gave a number of their own.
 * Whether the numbers read name one contact, or two (no link), is the
 * order record's decision (record-order.ts).
 */
export function buyerPhones(f: OrderPhoneFields): BuyerPhones {
  const buyerCountry = countryOf(f.billing) ?? countryOf(f.shipping);
  const read = (raw: string | null | undefined, country: ReturnType<typeof countryOf>) => (raw ? normalizePhone(raw, country) : null);
  const order = read(f.orderPhone, buyerCountry);
  const customer = read(f.customerPhone, buyerCountry);
  if (order || customer) return { order, customer, billing: null, shipping: null };
  return { order: null, customer: null, billing: read(f.billing?.phone, countryOf(f.billing)), shipping: read(f.shipping?.phone, countryOf(f.shipping)) };
}

/** The distinct numbers of `b`, most trusted first. */
export function buyerPhoneList(b: BuyerPhones): string[] {
  return [...new Set([b.order, b.customer, b.billing, b.shipping].filter((p): p is string => p !== null))];
}
