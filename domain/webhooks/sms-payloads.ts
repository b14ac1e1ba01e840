import { z } from 'zod';
import { isStorableText } from '../../lib/storable-text';

// Bodies of the SMS provider's callbacks (api.md, simulator scheme; the
// Mitto adapter speaks the same shape). Validated at the route, before the
// event is stored, and parsed again by the handler.

// Controls other than tab and newlines: never in a real text, and NUL cannot be stored.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

// No NUL and no unpaired surrogate: a provider's text that Postgres cannot store is a bad body (400), not a failed insert.
const text = (max: number, min = 0) => z.string().min(min).max(max).refine(isStorableText, 'must not contain NUL or an unpaired surrogate');

export const deliveryReportSchema = z.object({
  id: text(128, 1),
  reference: text(128).optional(),
  status: z.enum(['delivered', 'failed']),
  errorCode: z.string().max(64).regex(/^[A-Za-z0-9_.:-]*$/).optional(),
  timestamp: text(64).optional(),
});
export type DeliveryReport = z.infer<typeof deliveryReportSchema>;

/** Most reports one batched callback may carry (the body is bounded too: 64 KiB, raw-body.ts). */
export const MAX_REPORTS_PER_CALLBACK = 500;

/**
 * The batched form of the delivery-report callback (the simulator's
 * `SIMULATOR_DLR_BATCH`): several reports under one signature, which covers
 * the whole body and so every report in it.
 */
export const deliveryReportBatchSchema = z.object({
  reports: z.array(deliveryReportSchema).min(1).max(MAX_REPORTS_PER_CALLBACK),
});

export const inboundMessageSchema = z.object({
  id: text(128, 1),
  from: text(32, 1),
  to: text(32, 1),
  text: text(2000).refine((s) => !CONTROL.test(s), 'must not contain control characters'),
  timestamp: text(64).optional(),
});
export type InboundMessage = z.infer<typeof inboundMessageSchema>;

/** The dedup key of a delivery report: one event per (message, status). */
export const deliveryReportEventId = (r: DeliveryReport): string => `${r.id}:${r.status}`;
export const inboundEventId = (m: InboundMessage): string => `inbound:${m.id}`;
