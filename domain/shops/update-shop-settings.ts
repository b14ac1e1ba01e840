import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import { toShopView, type ShopSettingsRow, type ShopView } from './get-shop';

/** The tz database name the runtime knows it by (`america/new_york` → `America/New_York`), or null. */
export function canonicalTimeZone(name: string): string | null {
  // Only names: Intl would also take offsets such as "+05:00", which are not zones.
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(name)) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

const HH_MM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

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
    quietHours: z
      .object({
        start: z.string().regex(HH_MM, 'must be "HH:MM" (24-hour)'),
        end: z.string().regex(HH_MM, 'must be "HH:MM" (24-hour)'),
      })
      .strict()
      .refine((q) => q.start !== q.end, { message: 'start and end must differ (the window may wrap midnight)', path: ['end'] })
      .optional(),
    optOutFooter: z.boolean().optional(),
    // Carriers cap alphanumeric sender ids at 11 characters; numeric ones are phone numbers or short codes.
    senderId: z
      .string()
      .regex(/^(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{1,11}$|^[0-9]{3,15}$/, 'must be 1–11 letters/digits with at least one letter, or a 3–15 digit number')
      .optional(),
  })
  .strict();

export type ShopSettingsPatch = z.output<typeof shopSettingsPatchSchema>;

/** PATCH /api/shop: given settings replace, omitted ones stay (repeating it is harmless, so no idempotency guard). */
export async function updateShopSettings(db: DbOrTx, shopId: string, patch: ShopSettingsPatch): Promise<ShopView> {
  const [row] = await db.$queryRaw<ShopSettingsRow[]>`
    UPDATE shops SET
      timezone = COALESCE(${patch.timezone ?? null}::text, timezone),
      quiet_hours_start = COALESCE(${patch.quietHours?.start ?? null}::text, quiet_hours_start),
      quiet_hours_end = COALESCE(${patch.quietHours?.end ?? null}::text, quiet_hours_end),
      opt_out_footer = COALESCE(${patch.optOutFooter ?? null}::boolean, opt_out_footer),
      sender_id = COALESCE(${patch.senderId ?? null}::text, sender_id),
      updated_at = now()
    WHERE id = ${shopId}::uuid
    RETURNING id, domain, status, timezone, quiet_hours_start, quiet_hours_end, opt_out_footer, sender_id`;
  if (!row) throw notFound('Shop');
  return toShopView(row);
}
