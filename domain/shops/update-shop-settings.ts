import { z } from 'zod';
import { raw, type DbOrTx } from '../../lib/db';
import { inTransaction } from '../consent/consent-source';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { canonicalTimeZone } from '../compliance/quiet-hours';
import { AppError, notFound } from '../../lib/errors';
import { isUniqueViolation } from '../../lib/pg-errors';
import { SHOP_SETTINGS_COLUMNS, toShopView, type ShopSettingsRow, type ShopView } from './get-shop';

export { canonicalTimeZone };

const HH_MM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** A shop's quiet window; the Settings page's live warning (preview-quiet-hours.ts) checks the same shape. */
export const quietHoursSchema = z
  .object({
    start: z.string().regex(HH_MM, 'must be "HH:MM" (24-hour)'),
    end: z.string().regex(HH_MM, 'must be "HH:MM" (24-hour)'),
  })
  .strict()
  .refine((q) => q.start !== q.end, { message: 'start and end must differ (the window may wrap midnight)', path: ['end'] });

export const shopSettingsPatchSchema = z
  .object({
    timezone: z
      .string()
      .max(64)
      .transform((tz, ctx) => {
        const canonical = canonicalTimeZone(tz);
        if (!canonical) {
          ctx.addIssue({ code: 'custom', message: 'not an IANA time zone name (e.g. "America/New_York")' });
          return z.NEVER;
        }
        return canonical;
      })
      .optional(),
    quietHours: quietHoursSchema.optional(),
    optOutFooter: z.boolean().optional(),
    // Attribution windows in hours (docs/api.md, "Attribution"); the bounds are the table's CHECK.
    attribution: z
      .object({
        clickWindowHours: z.number().int().min(1).max(720).optional(),
        viewWindowHours: z.number().int().min(0).max(168).optional(),
      })
      .strict()
      .optional(),
    // Smart sending (the frequency cap): on/off and its window, 1..168 hours (the table's CHECK).
    smartSending: z
      .object({
        enabled: z.boolean().optional(),
        windowHours: z.number().int().min(1).max(168).optional(),
      })
      .strict()
      .optional(),
    // Carriers cap alphanumeric sender ids at 11 characters; numeric ones are phone numbers or short codes.
    senderId: z
      .string()
      .regex(/^(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{1,11}$|^[0-9]{3,15}$/, 'must be 1–11 letters/digits with at least one letter, or a 3–15 digit number')
      .optional(),
  })
  .strict();

export type ShopSettingsPatch = z.output<typeof shopSettingsPatchSchema>;

const senderTaken = (): AppError =>
  new AppError('INVALID_STATE', 'That sender id is used by another shop', {
    details: [{ path: 'senderId', message: 'another shop sends as this sender id (sender ids are unique, case-insensitively)' }],
  });

/**
 * PATCH /api/shop: given settings replace, omitted ones stay. Repeating it is
 * harmless, but a keyed request that stalled past its lease must not land
 * after a later change, so with a key it writes only while it holds it. A senderId other than the platform's
 * shared default (`defaultSender`, any case) is claimed: the shop owns it and
 * inbound texts to it route to this shop, so it is refused (409) while any
 * other shop sends as it, shared or owned. Two concurrent claims meet the
 * unique index on owned senders; the default is never owned.
 */
export async function updateShopSettings(db: DbOrTx, shopId: string, patch: ShopSettingsPatch, opts: { defaultSender: string; guard?: IdempotencyGuard; now: Date }): Promise<ShopView> {
  const guard = opts.guard ?? UNGUARDED;
  const sender = patch.senderId ?? null;
  const shared = sender !== null && sender.toLowerCase() === opts.defaultSender.toLowerCase();
  let rows: ShopSettingsRow[];
  try {
    rows = await inTransaction(db, async (tx) => {
      await guard.assertHeld(tx);
      return tx.$queryRaw<ShopSettingsRow[]>`
      UPDATE shops SET
        timezone = COALESCE(${patch.timezone ?? null}::text, timezone),
        quiet_hours_start = COALESCE(${patch.quietHours?.start ?? null}::text, quiet_hours_start),
        quiet_hours_end = COALESCE(${patch.quietHours?.end ?? null}::text, quiet_hours_end),
        opt_out_footer = COALESCE(${patch.optOutFooter ?? null}::boolean, opt_out_footer),
        click_window_hours = COALESCE(${patch.attribution?.clickWindowHours ?? null}::int, click_window_hours),
        view_window_hours = COALESCE(${patch.attribution?.viewWindowHours ?? null}::int, view_window_hours),
        smart_sending_enabled = COALESCE(${patch.smartSending?.enabled ?? null}::boolean, smart_sending_enabled),
        smart_sending_window_hours = COALESCE(${patch.smartSending?.windowHours ?? null}::int, smart_sending_window_hours),
        sender_id = CASE WHEN ${sender}::text IS NULL THEN sender_id WHEN ${shared} THEN ${opts.defaultSender}::text ELSE ${sender}::text END,
        sender_owned = CASE WHEN ${sender}::text IS NULL THEN sender_owned ELSE NOT ${shared} END,
        updated_at = now()
      WHERE id = ${shopId}::uuid
        AND (${sender}::text IS NULL OR ${shared} OR NOT EXISTS (
              SELECT 1 FROM shops o WHERE o.id <> ${shopId}::uuid AND lower(o.sender_id) = lower(${sender}::text)))
      RETURNING ${raw(SHOP_SETTINGS_COLUMNS)}`;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw senderTaken();
    throw err;
  }
  if (rows[0]) return toShopView(rows[0], opts.now);
  const [exists] = await db.$queryRaw<{ id: string }[]>`SELECT id FROM shops WHERE id = ${shopId}::uuid`;
  if (!exists) throw notFound('Shop');
  throw senderTaken();
}
