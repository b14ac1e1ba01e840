// Carrier keywords (CTIA): the whole message, trimmed and case-insensitive.
// Trailing punctuation ("Stop.", "STOP!") still counts: an opt-out is never
// under-applied.

export type InboundKeyword = 'STOP' | 'START' | 'HELP';

// REVOKE and OPTOUT: the FCC's 2025 revocation rule names them beside CTIA's list.
export const STOP_WORDS: ReadonlySet<string> = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
export const START_WORDS: ReadonlySet<string> = new Set(['START', 'UNSTOP', 'YES']);
export const HELP_WORDS: ReadonlySet<string> = new Set(['HELP', 'INFO']);

/** The keyword family of an inbound text, or null for an ordinary reply. */
export function classifyInboundText(text: string): InboundKeyword | null {
  const word = text.trim().replace(/[.!\s]+$/u, '').toUpperCase();
  if (STOP_WORDS.has(word)) return 'STOP';
  if (START_WORDS.has(word)) return 'START';
  if (HELP_WORDS.has(word)) return 'HELP';
  return null;
}
