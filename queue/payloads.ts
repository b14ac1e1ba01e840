import { z } from 'zod';
import type { JobName } from './names';

// One zod schema per job name. Every payload carries the trace id of the
// request (or event) that caused it, so logs and provider calls can be joined.

const traced = { traceId: z.string().min(1).max(128) };
const fromOutbox = {
  outbox: z.object({ id: z.string().regex(/^[1-9][0-9]{0,18}$/), part: z.number().int().min(0).max(999), parts: z.number().int().min(1).max(1000) }).optional(),
};
// The flows live on the trigger when its fact was recorded, each with its live
// period (flows.live_generation); absent in events written before it existed.
const liveAtTrigger = {
  live: z
    .record(z.uuid(), z.number().int().min(0))
    .refine((m) => Object.keys(m).length <= 100, 'at most 100 flows (MAX_FLOWS_PER_SHOP)')
    .optional(),
};

export const jobPayloadSchemas = {
  'outbox.dispatch.v1': z.object({ ...traced }),
  'idempotency.cleanup.v1': z.object({ ...traced }),
  'reconcile.run.v1': z.object({ ...traced, campaignId: z.uuid().optional() }),
  'campaign.launch.v1': z.object({ ...traced, campaignId: z.uuid(), shopId: z.uuid() }),
  'campaign.send-batch.v1': z.object({ ...traced, campaignId: z.uuid(), shopId: z.uuid(), batchNo: z.number().int().min(0) }),
  'contacts.import.v1': z.object({ ...traced, importId: z.uuid(), shopId: z.uuid() }),
  'webhook.process.v1': z.object({ ...traced, eventId: z.uuid() }),
  'webhook.delivery-reports.v1': z.object({ ...traced }),
  'webhook.events.v1': z.object({ ...traced }),
  'contact.consent-writeback.v1': z.object({ ...traced, shopId: z.uuid(), contactId: z.uuid(), recordId: z.string().regex(/^[0-9]{1,19}$/) }),
  'shop.sync.v1': z.object({ ...traced, syncId: z.uuid(), shopId: z.uuid() }),
  'keyword.reply.v1': z.object({ ...traced, replyId: z.string().regex(/^[1-9][0-9]{0,18}$/) }),
  // One trigger occurrence: consent records (a statement's subscriptions, ≤ 1 000 per job), a checkout or an order.
  // `outbox` names the event and part the job consumes (recorded when it ran, so reconciliation republishes only lost ones).
  'flows.trigger.v1': z.discriminatedUnion('kind', [
    z.object({ ...traced, ...fromOutbox, ...liveAtTrigger, kind: z.literal('contact_subscribed'), shopId: z.uuid(), recordIds: z.array(z.string().regex(/^[1-9][0-9]{0,18}$/)).min(1).max(1000) }),
    z.object({ ...traced, ...fromOutbox, ...liveAtTrigger, kind: z.literal('checkout_abandoned'), shopId: z.uuid(), token: z.string().min(1).max(128) }),
    z.object({ ...traced, ...fromOutbox, ...liveAtTrigger, kind: z.literal('order_created'), shopId: z.uuid(), orderId: z.string().min(1).max(64) }),
  ]),
  'flows.due.v1': z.object({ ...traced }),
  // One claim of due runs (≤ 1 000): only the claim's holder moves them.
  'flows.steps.v1': z.object({ ...traced, claimToken: z.uuid(), runIds: z.array(z.string().regex(/^[1-9][0-9]{0,18}$/)).min(1).max(1000) }),
  // Erases the shop in chunks; acts only on a shop whose erasure was requested (shop/redact).
  'privacy.shop-erase.v1': z.object({ ...traced, shopId: z.uuid() }),
  // Deletes a flow's history in chunks; acts only on a flow marked deleted (DELETE /api/flows/:id).
  'flows.delete.v1': z.object({ ...traced, flowId: z.uuid() }),
  // Freezes a campaign's stats and deletes its recipients in chunks; acts only on a campaign past the recipient retention.
  'campaigns.prune-recipients.v1': z.object({ ...traced, campaignId: z.uuid() }),
} satisfies Record<JobName, z.ZodType>;

export type JobPayloads = { [K in JobName]: z.infer<(typeof jobPayloadSchemas)[K]> };
export type JobPayload<K extends JobName> = JobPayloads[K];

export function parsePayload<K extends JobName>(name: K, data: unknown): JobPayload<K> {
  return jobPayloadSchemas[name].parse(data) as JobPayload<K>;
}
