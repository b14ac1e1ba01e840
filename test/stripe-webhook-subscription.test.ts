import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { handledTopics } from '../domain/webhooks/handlers';

// Stripe delivers only the events the endpoint is subscribed to (set up by
// hand in the Dashboard, from docs/webhooks.md): the list there must be
// exactly the topics the code acts on. A handled topic left off the list
// never arrives (a card refund's failure comes only as refund.failed /
// refund.updated: without them the merchant loses a pack they paid for).

function documentedSubscriptions(): string[] {
  const doc = readFileSync(join(__dirname, '..', 'docs', 'webhooks.md'), 'utf8');
  const stripe = doc.slice(doc.indexOf('## Stripe'));
  const start = stripe.indexOf('- Events the endpoint must be subscribed to');
  expect(start).toBeGreaterThanOrEqual(0);
  const bullet = stripe.slice(start, stripe.indexOf('\n- ', start + 1)).replace(/\s+/g, ' ');
  // The topics named before "Any other topic".
  const end = bullet.indexOf('Any other topic');
  expect(end).toBeGreaterThan(0);
  const list = bullet.slice(bullet.indexOf('):'), end);
  return [...list.matchAll(/`([a-z_.]+)`/g)].map((m) => m[1]!);
}

describe('the Stripe endpoint subscription (docs/webhooks.md, "Stripe")', () => {
  it('lists every topic the Stripe handlers act on, and nothing else', () => {
    const listed = documentedSubscriptions();
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual([...handledTopics('stripe')].sort());
  });

  it('includes refund.failed and refund.updated, which Stripe sends for every refund (charge.refund.updated only for some payment methods)', () => {
    expect(documentedSubscriptions()).toEqual(expect.arrayContaining(['refund.failed', 'refund.updated', 'charge.refund.updated']));
  });
});
