// Cyrillic and Greek letters drawn like Latin ones (Unicode's confusables for
// the Latin alphabet, limited to shapes a reader cannot tell apart in common
// fonts). "ЅТОР" (Cyrillic Ѕ Т О Р) or "SΤΟΡ" (Greek Τ Ο Ρ) looks like STOP
// on a handset; a person who typed it on a Cyrillic or Greek keyboard, or
// pasted it, meant STOP. NFKC leaves these alone, since they are letters of their own scripts.
//
// Used for the opt-out keywords only: an opt-out is never under-applied, and
// none of the opt-out keywords is a word of either language once folded
// (several of their letters, U, L, N, D, Q, have no common look-alike in the
// Cyrillic alphabet). START and HELP stay strict: an opt-in is never
// over-applied, and "НЕLР" read as HELP would answer a text that was no
// request for help.

const LOOK_ALIKES: Readonly<Record<string, string>> = {
  // Cyrillic capitals
  '\u0405': 'S', // Ѕ
  '\u0406': 'I', // І
  '\u0408': 'J', // Ј
  '\u0410': 'A', // А
  '\u0412': 'B', // В
  '\u0415': 'E', // Е
  '\u041A': 'K', // К
  '\u041C': 'M', // М
  '\u041D': 'H', // Н
  '\u041E': 'O', // О
  '\u0420': 'P', // Р
  '\u0421': 'C', // С
  '\u0422': 'T', // Т
  '\u0425': 'X', // Х
  '\u0474': 'V', // Ѵ
  '\u04AE': 'Y', // Ү
  '\u04C0': 'I', // Ӏ (palochka)
  '\u0500': 'D', // Ԁ
  '\u051A': 'Q', // Ԛ
  '\u051C': 'W', // Ԝ
  // Cyrillic small letters that look like Latin small letters
  '\u0430': 'a', // а
  '\u0435': 'e', // е
  '\u043E': 'o', // о
  '\u0440': 'p', // р
  '\u0441': 'c', // с
  '\u0443': 'y', // у
  '\u0445': 'x', // х
  '\u0455': 's', // ѕ
  '\u0456': 'i', // і
  '\u0458': 'j', // ј
  '\u0475': 'v', // ѵ
  '\u04BB': 'h', // һ
  '\u04CF': 'l', // ӏ
  '\u0501': 'd', // ԁ
  '\u051B': 'q', // ԛ
  '\u051D': 'w', // ԝ
  // Greek capitals
  '\u0391': 'A', // Α
  '\u0392': 'B', // Β
  '\u0395': 'E', // Ε
  '\u0396': 'Z', // Ζ
  '\u0397': 'H', // Η
  '\u0399': 'I', // Ι
  '\u039A': 'K', // Κ
  '\u039C': 'M', // Μ
  '\u039D': 'N', // Ν
  '\u039F': 'O', // Ο
  '\u03A1': 'P', // Ρ
  '\u03A4': 'T', // Τ
  '\u03A5': 'Y', // Υ
  '\u03A7': 'X', // Χ
  // Greek small letters that look like Latin small letters
  '\u03B9': 'i', // ι
  '\u03BD': 'v', // ν
  '\u03BF': 'o', // ο
  '\u03C1': 'p', // ρ
  '\u03C5': 'u', // υ
};

const LOOK_ALIKE = new RegExp(`[${Object.keys(LOOK_ALIKES).join('')}]`, 'gu');

/** The text with every Cyrillic or Greek letter that looks like a Latin one replaced by that Latin letter. */
export function foldLookAlikeLetters(text: string): string {
  return text.replace(LOOK_ALIKE, (c) => LOOK_ALIKES[c] ?? c);
}
