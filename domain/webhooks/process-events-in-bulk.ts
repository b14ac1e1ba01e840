import { resolveBulkWebhookHandler } from './handlers';
import { describeError } from './mark-event';
import type { WebhookEventRow, WebhookProcessDeps } from './types';

/**
 * A drain pass's first step: the events of every topic with a bulk form
 * (resolveBulkWebhookHandler) are applied per topic in one statement; returns
 * the events left for the per-event way — those of other topics, those a
 * bulk handler did not take, and every event of a topic whose bulk attempt
 * failed (nothing of it committed).
 */
export async function processEventsInBulk(deps: WebhookProcessDeps, events: WebhookEventRow[]): Promise<{ processed: number; rest: WebhookEventRow[] }> {
  const groups = new Map<string, WebhookEventRow[]>();
  const rest: WebhookEventRow[] = [];
  for (const e of events) {
    if (!resolveBulkWebhookHandler(e.provider, e.topic)) {
      rest.push(e);
      continue;
    }
    const key = `${e.provider}\u0000${e.topic}`;
    const group = groups.get(key);
    if (group) group.push(e);
    else groups.set(key, [e]);
  }
  let processed = 0;
  for (const group of groups.values()) {
    const { provider, topic } = group[0] as WebhookEventRow;
    const handler = resolveBulkWebhookHandler(provider, topic);
    try {
      const r = await handler!(deps, group);
      for (const d of r.done) deps.metrics.webhookEvents.inc({ source: provider, outcome: d.outcome });
      processed += r.done.length;
      rest.push(...r.rest);
    } catch (err) {
      deps.logger.warn({ provider, topic, events: group.length, err: { message: describeError(err) } }, 'bulk webhook pass failed; its events are processed one by one');
      rest.push(...group);
    }
  }
  // The per-event way keeps the claim's order (oldest first).
  rest.sort((a, b) => a.received_at.getTime() - b.received_at.getTime() || a.id.localeCompare(b.id));
  return { processed, rest };
}
