import { z } from 'zod';
import { quietHoursWarningFor, type QuietHoursWarning } from './get-shop';
import { quietHoursSchema } from './update-shop-settings';

// The Settings page warns while the merchant edits quiet hours, before any
// save. The admin is browser code and may not import domain/ (eslint's
// layering), and the verdict is the send path's own search over time zones
// (compliance/send-time.ts), too much to copy into the page and keep in step:
// so the page asks here, and gets exactly what GET and PATCH /api/shop answer.

export const previewQuietHoursSchema = z.object({ quietHours: quietHoursSchema }).strict();

export type PreviewQuietHoursInput = z.output<typeof previewQuietHoursSchema>;

/** POST /api/shop/quiet-hours/preview: the warning PATCH would answer for these quiet hours; nothing is saved. */
export function previewQuietHours(input: PreviewQuietHoursInput, now: Date): { quietHoursWarning: QuietHoursWarning | null } {
  return { quietHoursWarning: quietHoursWarningFor(input.quietHours, now) };
}
