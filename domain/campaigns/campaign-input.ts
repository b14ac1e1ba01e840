import { z } from 'zod';
import { tagsField, text } from '../contacts/contact-input';
import { parseTemplate } from '../messaging/template';
import { isStorableInstant } from './audience';

// Request schemas for the campaign routes. The template check lives in the
// schema so a bad body is a 400 at validation time, before an idempotency
// key is claimed or anything is written.

export const CAMPAIGN_STATUSES = ['draft', 'scheduled', 'queued', 'sending', 'completed', 'cancelled', 'failed'] as const;

/** A body of spaces and line breaks only would be sent, and charged, as a blank text. */
export const BLANK_BODY = 'must contain text, not only spaces or line breaks';

export const campaignBodySchema = z
  .string()
  .min(1)
  .max(1600)
  .refine((body) => body.trim() !== '', BLANK_BODY)
  .superRefine((body, ctx) => {
    const parsed = parseTemplate(body);
    if (!parsed.ok) for (const e of parsed.errors) ctx.addIssue({ code: 'custom', message: e.message });
  });

const MAX_AMOUNT_MINOR = 1e15;

/** An inclusive range of non-negative integers with at least one bound, min ≤ max. */
const intRange = (max: number, unit: string) =>
  z
    .strictObject({
      min: z.number().int().min(0).max(max).optional(),
      max: z.number().int().min(0).max(max).optional(),
    })
    .refine((r) => r.min !== undefined || r.max !== undefined, `give min or max (${unit})`)
    .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, { message: 'min must not exceed max', path: ['max'] });

const instant = z.iso
  .datetime({ offset: true })
  // Postgres' timestamptz takes years 1 to 9999 as written here: year 0, or a date an offset pushes past 9999 in UTC, would fail every later read of the audience.
  .refine((s) => isStorableInstant(Date.parse(s)), 'must fall between the years 1 and 9999 in UTC')
  .transform((s) => new Date(s).toISOString());

/**
 * `tags` = contacts carrying ANY of them, normalised as contact tags are
 * (trimmed, lowercased); omit `tags` for every sendable contact. An empty
 * list is refused rather than read as "everyone". The order filters narrow
 * further, each range inclusive: `ordersCount`, `amountSpent` (minor units
 * of the shop's currency) and `lastOrderAt` (a contact without an order is
 * outside any date range). Dates are stored normalised to UTC.
 */
export const audienceSchema = z.strictObject({
  tags: tagsField.pipe(z.array(z.string()).min(1, 'give at least one tag, or omit tags for every subscribed contact')).optional(),
  ordersCount: intRange(1_000_000_000, 'orders').optional(),
  amountSpent: intRange(MAX_AMOUNT_MINOR, 'minor units').optional(),
  lastOrderAt: z
    .strictObject({ from: instant.optional(), to: instant.optional() })
    .refine((r) => r.from !== undefined || r.to !== undefined, 'give from or to')
    .refine((r) => r.from === undefined || r.to === undefined || r.from <= r.to, { message: 'from must not be after to', path: ['to'] })
    .optional(),
});

// As `instant`: a year past 9999 in UTC (9999-12-31T23:30:00-01:00) was stored, and echoed as "+010000-01-01T…", which no date-time parser takes.
const timestamp = z.iso
  .datetime({ offset: true })
  .refine((s) => isStorableInstant(Date.parse(s)), 'must fall between the years 1 and 9999 in UTC')
  .transform((s) => new Date(s));

export const createCampaignSchema = z.strictObject({
  name: text(200),
  body: campaignBodySchema,
  audience: audienceSchema.optional(),
  scheduledAt: timestamp.nullable().optional(),
  ignoreSmartSending: z.boolean().optional(),
});
export type CreateCampaignInput = z.infer<typeof createCampaignSchema>;

export const updateCampaignSchema = z.strictObject({
  name: text(200).optional(),
  body: campaignBodySchema.optional(),
  audience: audienceSchema.optional(),
  scheduledAt: timestamp.nullable().optional(),
  ignoreSmartSending: z.boolean().optional(),
});
export type UpdateCampaignInput = z.infer<typeof updateCampaignSchema>;

/**
 * `sendTiming: false` leaves out frequencyCapped/recipientsAfterCap/deferredNow/
 * quietHoursSkipped (answered as null): they cost one pass over the audience, which a preview
 * refreshed while the merchant types need not pay every time.
 */
export const previewCampaignSchema = z.strictObject({ contactId: z.uuid().optional(), sendTiming: z.boolean().optional() });

/** Enqueue and cancel take no options; an empty object (or no body) is the request. */
export const emptyBodySchema = z.strictObject({});

export const listCampaignsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(500).optional(),
  status: z.enum(CAMPAIGN_STATUSES).optional(),
});


/** `bucket`: a width of campaign-timeseries.ts BUCKET_WIDTHS, or `auto` (the default) for a chart's worth of buckets. */
export const campaignTimeseriesQuerySchema = z.strictObject({
  bucket: z.enum(['auto', '1s', '5s', '10s', '30s', '1m', '5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '7d']).default('auto'),
});
