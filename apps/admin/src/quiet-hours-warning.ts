import { useEffect, useState } from 'react';
import { api } from './api/client';
import type { QuietHoursPreview, QuietHoursWarning, Shop } from './api/types';
import { useDebounced } from './hooks';

// Settings warns while quiet hours are edited, not only once saved. The rule
// is the send path's own search over the recipient's time zones
// (domain/compliance/send-time.ts), which this browser code may not import
// (eslint's layering) and must not copy: the api answers it, for the saved
// hours with the shop and for the hours being typed through
// POST /api/shop/quiet-hours/preview.

const keyOf = (start: string, end: string): string => `${start}|${end}`;

/**
 * The warning for quiet hours start–end: the saved shop's own when they are
 * the saved ones, else the preview's once it answers (null before, and for
 * hours the api refuses — Save names the field then).
 */
export function useQuietHoursWarning(saved: Shop | undefined, start: string | undefined, end: string | undefined): QuietHoursWarning | null {
  const [verdicts, setVerdicts] = useState<Record<string, QuietHoursWarning | null>>({});
  const key = start && end ? keyOf(start, end) : null;
  const savedKey = saved ? keyOf(saved.quietHours.start, saved.quietHours.end) : null;
  // Each keystroke of a time field is a value of its own: ask once it settles.
  const asked = useDebounced(key, 250);

  useEffect(() => {
    if (asked === null || asked === savedKey || asked in verdicts) return;
    const [qStart, qEnd] = asked.split('|');
    const ctl = new AbortController();
    api<QuietHoursPreview>('POST', '/shop/quiet-hours/preview', { body: { quietHours: { start: qStart, end: qEnd } }, signal: ctl.signal })
      .then((p) => setVerdicts((v) => ({ ...v, [asked]: p.quietHoursWarning })))
      // A refused window or a failed request shows no verdict; saving answers it.
      .catch(() => undefined);
    return () => ctl.abort();
  }, [asked, savedKey, verdicts]);

  if (key === null) return null;
  if (key === savedKey) return saved?.quietHoursWarning ?? null;
  return verdicts[key] ?? null;
}
