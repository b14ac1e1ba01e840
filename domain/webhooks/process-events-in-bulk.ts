import { resolveBulkWebhookHandler } from './handlers';
import { describeError } from './mark-event';
import type { BulkWebhookHandler, WebhookEventRow, WebhookProcessDeps } from './types';

/**
 * A drain pass's first step: the events of every topic with a bulk form
 * (resolveBulkWebhookHandler) are applied per topic in one statement; returns
 * the events left for the per-event way, in the order they came — those of
 * other topics, those a bulk handler did not take, and every event of a
 * topic whose bulk attempt failed (nothing of it committed).
 */
export async function processEventsInBulk(deps: WebhookProcessDeps, events: WebhookEventRow[]): Promise<{ processed: number; rest: WebhookEventRow[] }> {
  const groups = new Map<BulkWebhookHandler, WebhookEventRow[]>();
  for (const e of events) {
    const handler = resolveBulkWebhookHandler(e.provider, e.topic);
    if (!handler) continue;
    const group = groups.get(handler);
    if (group) group.push(e);
    else groups.set(handler, [e]);
  }
  const done = new Set<string>();
  for (const [handler, group] of groups) {
    const { provider, topic } = group[0] as WebhookEventRow;
    try {
      const r = await handler(deps, group);
      for (const d of r.done) {
        deps.metrics.webhookEvents.inc({ source: d.event.provider, outcome: d.outcome });
        done.add(d.event.id);
      }
    } catch (err) {
      deps.logger.warn({ provider, topic, events: group.length, err: { message: describeError(err) } }, 'bulk webhook pass failed; its events are processed one by one');
    }
  }
  return { processed: done.size, rest: events.filter((e) => !done.has(e.id)) };
}
