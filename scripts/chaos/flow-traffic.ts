// What R6 sends at the API, as Shopify and a handset send it: signed
// customers/create (the subscription that starts a welcome series),
// checkouts/create|update, orders/create and inbound STOPs, each delivered
// as a duplicate storm — the same delivery many times at once (Shopify's
// retries), resent under new webhook ids (duplicate deliveries), and restated
// by later updates (what a resync or Shopify's own re-sends look like).

import { randomBytes } from 'node:crypto';
import type { ApiClient, ApiResponse } from './api-client';

/** One Shopify customer of the scenario and what happens to it. */
export interface Person {
  i: number;
  customerId: number;
  phone: string;
  firstName: string;
  /** An abandoned checkout; `ordered`: an order follows before the flow's delay is over. */
  checkout: { token: string; ordered: boolean } | null;
  /** orders/create for this customer (post-purchase flow; ends an ordered checkout's run). */
  orderId: number | null;
  /** An inbound STOP: `held` ones while their run waits between steps, the others at any moment. */
  stop: 'held' | 'racing' | null;
}

const NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara'];

/**
 * Who gets what, by index: every customer subscribes (welcome series); a
 * third abandon a checkout, half of those then order (no reminder may go
 * out); some others order without a checkout (post-purchase); a tenth of
 * those without a checkout text STOP. The groups are disjoint where their
 * expectations would otherwise depend on timing.
 */
export function planPeople(n: number, tag: string): Person[] {
  const base = 5_000_000_000 + Math.floor(Math.random() * 1_000_000) * 10_000;
  return Array.from({ length: n }, (_, i): Person => {
    const checkout = i % 3 === 0 ? { token: `r6${tag}${String(i).padStart(6, '0')}`, ordered: i % 6 === 0 } : null;
    const ordersAnyway = i % 5 === 1 && checkout === null;
    const stop = i % 10 === 7 && checkout === null ? (i % 20 === 7 ? 'held' : 'racing') : null;
    return {
      i,
      customerId: base + i,
      phone: `+1201${4_000_000 + i}`,
      firstName: NAMES[i % NAMES.length] as string,
      checkout,
      orderId: checkout?.ordered || ordersAnyway ? base + 5_000 + i : null,
      stop,
    };
  });
}

const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();

export function customerBody(p: Person, offsetMs: number): string {
  const at = iso(offsetMs);
  return JSON.stringify({
    id: p.customerId,
    email: null,
    first_name: p.firstName,
    last_name: 'Chaos',
    phone: p.phone,
    updated_at: at,
    sms_marketing_consent: { state: 'subscribed', opt_in_level: 'single_opt_in', consent_updated_at: at },
  });
}

export function checkoutBody(p: Person, shopDomain: string, updatedOffsetMs: number, createdOffsetMs = updatedOffsetMs): string {
  const token = p.checkout?.token ?? '';
  return JSON.stringify({
    id: p.customerId + 1,
    token,
    cart_token: 'cart',
    email: null,
    created_at: iso(createdOffsetMs),
    updated_at: iso(updatedOffsetMs),
    completed_at: null,
    abandoned_checkout_url: `https://${shopDomain}/checkouts/${token}/recover?key=chaos`,
    phone: null,
    customer: { id: p.customerId, phone: null },
    line_items: [{ title: 'Tee', quantity: 1 }],
    total_price: '42.50',
    currency: 'USD',
  });
}

export function orderBody(p: Person): string {
  return JSON.stringify({
    id: p.orderId,
    order_number: 1000 + p.i,
    created_at: iso(0),
    total_price: '42.50',
    currency: 'USD',
    customer: { id: p.customerId, phone: null },
    landing_site: null,
    referring_site: null,
    source_name: 'web',
    discount_codes: [],
    line_items: [],
  });
}

/** Answers by kind, for the report and for "one stored, the rest duplicates". */
export class StormTally {
  readonly counts = new Map<string, number>();
  /** Deliveries of one webhook id that were stored more than once, or not at all. */
  badIds = 0;
  ids = 0;

  add(label: string, n = 1): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + n);
  }

  show(): string {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n.toLocaleString('en-US')}× ${k}`).join(', ');
  }
}

function label(r: ApiResponse | Error): string {
  if (r instanceof Error) return `no answer (${r.name})`;
  const body = r.body as { duplicate?: boolean; received?: boolean; error?: { code?: string } } | null;
  if (body?.error?.code) return `${r.status} ${body.error.code}`;
  if (body?.duplicate) return `${r.status} duplicate`;
  if (body?.received) return `${r.status} received`;
  return String(r.status);
}

const settle = <T>(p: Promise<T>): Promise<T | Error> => p.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));

/**
 * One Shopify delivery as a storm: `same` concurrent copies under one webhook
 * id (exactly one may be stored), then `fresh` resends at once under new ids,
 * each with a key we do not read changed (a byte-identical body is refused
 * whatever its id: webhook_body_digests), so each is stored and processed and
 * only the handlers' unique keys can make it harmless.
 */
export async function shopifyStorm(api: ApiClient, tally: StormTally, o: { topic: string; shopDomain: string; raw: string; same: number; fresh: number }): Promise<void> {
  const id = `wh-r6-${randomBytes(8).toString('hex')}`;
  const same = await Promise.all(Array.from({ length: o.same }, () => settle(api.shopifyWebhook(o.topic, id, o.shopDomain, o.raw))));
  const fresh = await Promise.all(
    Array.from({ length: o.fresh }, () => {
      const resent = o.raw.replace(/}$/, `,"note":"resent ${randomBytes(4).toString('hex')}"}`);
      return settle(api.shopifyWebhook(o.topic, `wh-r6-${randomBytes(8).toString('hex')}`, o.shopDomain, resent));
    }),
  );
  for (const r of [...same, ...fresh]) tally.add(label(r));
  tally.ids += 1 + o.fresh;
  const stored = same.filter((r) => !(r instanceof Error) && label(r) === '200 received').length;
  const freshStored = fresh.filter((r) => !(r instanceof Error) && label(r) === '200 received').length;
  if (stored !== 1) tally.badIds++;
  tally.badIds += o.fresh - freshStored;
}

/** An inbound STOP, the same text delivered `copies` times at once (the caller waits until it is in force). */
export async function stopStorm(api: ApiClient, tally: StormTally, o: { from: string; to: string; copies: number }): Promise<void> {
  const message = { id: `in-r6-${randomBytes(8).toString('hex')}`, from: o.from, to: o.to, text: 'STOP', timestamp: new Date().toISOString() };
  const answers = await Promise.all(Array.from({ length: o.copies }, () => settle(api.smsInbound(message))));
  for (const r of answers) tally.add(label(r));
  tally.ids++;
  if (answers.filter((r) => !(r instanceof Error) && label(r) === '200 received').length !== 1) tally.badIds++;
}
