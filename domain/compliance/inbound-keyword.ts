// Carrier keywords (CTIA): the whole message, trimmed and case-insensitive.
// Trailing punctuation ("Stop.", "STOP!") still counts: an opt-out is never
// under-applied.

export type InboundKeyword = 'STOP' | 'START' | 'HELP';

const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);
const START_WORDS = new Set(['START', 'UNSTOP', 'YES']);
const HELP_WORDS = new Set(['HELP']);

/** The keyword family of an inbound text, or null for an ordinary reply. */
export function classifyInboundText(text: string): InboundKeyword | null {
  const word = text.trim().replace(/[.!\s]+$/u, '').toUpperCase();
  if (STOP_WORDS.has(word)) return 'STOP';
  if (START_WORDS.has(word)) return 'START';
  if (HELP_WORDS.has(word)) return 'HELP';
  return null;
}
