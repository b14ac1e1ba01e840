// Carrier keywords (CTIA): the whole message, trimmed and case-insensitive.
// Every keyword is first read as a person sees it: NFKC folds full-width
// and other compatibility forms ("ＳＴＯＰ", "ｓｔｏｐ") to plain letters, and
// invisible characters (zero-width spaces and joiners, BOM, soft hyphen, word
// joiner, variation selectors: Unicode's format and default-ignorable code
// points) are dropped, since a handset or keyboard may add them unseen.
// For an opt-out, anything but letters and digits around the keyword
// (punctuation, quotes, brackets, emoji: "Stop.", "STOP🙏", "\"STOP\"") and the
// spaces or hyphens people put inside one ("Opt out", "opt-out", "STOP ALL")
// still count, and so do Cyrillic and Greek letters drawn like Latin ones
// ("ЅТОР" in Cyrillic, "SΤΟΡ" with Greek Τ Ο Ρ: look-alike-letters.ts): an
// opt-out is never under-applied. START and HELP allow only a trailing "." or
// "!" and take no look-alike letters: an opt-in is never over-applied. Only
// the whole message is a keyword, so a sentence that merely contains one
// ("stop it please") stays a reply.

import { foldLookAlikeLetters } from './look-alike-letters';

export type InboundKeyword = 'STOP' | 'START' | 'HELP';

// REVOKE and OPTOUT: the FCC's 2025 revocation rule names them beside CTIA's list.
export const STOP_WORDS: ReadonlySet<string> = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
export const START_WORDS: ReadonlySet<string> = new Set(['START', 'UNSTOP', 'YES']);
export const HELP_WORDS: ReadonlySet<string> = new Set(['HELP', 'INFO']);

const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/** The text as a person reads it: compatibility forms folded, invisible characters gone, trimmed. */
function visibleText(text: string): string {
  return text.normalize('NFKC').replace(INVISIBLE, '').trim();
}

/** The keyword family of an inbound text, or null for an ordinary reply. */
export function classifyInboundText(text: string): InboundKeyword | null {
  const trimmed = visibleText(text);
  // Folded loosely for an opt-out only: reading "yes?" or "Start, maybe" as a
  // consent to be texted again would over-apply an opt-in, which is the
  // failure that costs the merchant.
  const loose = foldLookAlikeLetters(
    trimmed.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '').replace(/[\s\p{Pd}]+/gu, ''),
  ).toUpperCase();
  if (STOP_WORDS.has(loose)) return 'STOP';
  const strict = trimmed.replace(/[.!\s]+$/u, '').toUpperCase();
  if (START_WORDS.has(strict)) return 'START';
  if (HELP_WORDS.has(strict)) return 'HELP';
  return null;
}
