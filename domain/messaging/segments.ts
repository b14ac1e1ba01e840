// SMS segment counting (3GPP TS 23.038 / 23.040).
//
// Carriers bill per segment, so this must agree with how a real SMSC splits a
// message. It runs once per recipient on the send path, hence a lookup table
// and a single pass over UTF-16 code units, with no regex or allocation.

export type Encoding = 'GSM-7' | 'UCS-2';

export interface SegmentCount {
  encoding: Encoding;
  /** Code points, i.e. Array.from(text).length. */
  characters: number;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
  /** 0 only for the empty string (callers never send empty bodies). */
  segments: number;
}

// A single-part message has no User Data Header; a multi-part one spends
// 6 octets of each part on the concatenation UDH.
const GSM_SINGLE = 160;
const GSM_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;

// Default alphabet in table order, minus 0x1B (ESC), which is not a character
// a user can type but the prefix of the extension table.
export const GSM_BASIC_CHARS =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ' +
  ' !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmnopqrstuvwxyzäöñüà';

// Extension table: each costs ESC + char = 2 septets.
export const GSM_EXTENSION_CHARS = '\f^{}\\[~]|€';

// Cost in septets per UTF-16 code unit: 1 basic, 2 extension, 0 = not GSM.
// The highest GSM code point is € (U+20AC), so the table is ~8 KB.
const GSM_COST: Uint8Array = buildCostTable();

function buildCostTable(): Uint8Array {
  let max = 0;
  for (const ch of GSM_BASIC_CHARS + GSM_EXTENSION_CHARS) max = Math.max(max, ch.charCodeAt(0));
  const table = new Uint8Array(max + 1);
  for (const ch of GSM_BASIC_CHARS) table[ch.charCodeAt(0)] = 1;
  for (const ch of GSM_EXTENSION_CHARS) table[ch.charCodeAt(0)] = 2;
  return table;
}

/** Septet cost of one UTF-16 code unit: 1 or 2, or 0 if it is not GSM-7. */
export function gsmCost(codeUnit: number): number {
  return GSM_COST[codeUnit] ?? 0;
}

/** True if the whole text can be sent as GSM-7. */
export function isGsm7(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (gsmCost(text.charCodeAt(i)) === 0) return false;
  }
  return true;
}

export function countSegments(text: string): SegmentCount {
  const len = text.length;
  if (len === 0) return { encoding: 'GSM-7', characters: 0, units: 0, segments: 0 };

  // Pack greedily into multi-part segments while counting; if the total turns
  // out to fit a single part, the packing is simply discarded.
  let septets = 0;
  let segments = 1;
  let used = 0;
  for (let i = 0; i < len; i++) {
    const cost = gsmCost(text.charCodeAt(i));
    if (cost === 0) return continueAsUcs2(text, i);
    septets += cost;
    // An escape pair must not be split, so it may leave 1 septet unused.
    if (used + cost > GSM_PART) {
      segments++;
      used = cost;
    } else {
      used += cost;
    }
  }
  // Every GSM character is a single BMP code unit, so characters === len.
  return { encoding: 'GSM-7', characters: len, units: septets, segments: septets <= GSM_SINGLE ? 1 : segments };
}

// Resumes at the first non-GSM code unit instead of rescanning: every unit in
// [0, from) was a GSM character, i.e. one BMP code point of one UTF-16 unit,
// so the UCS-2 packing state of that prefix follows arithmetically.
function continueAsUcs2(text: string, from: number): SegmentCount {
  const len = text.length;
  let segments = from === 0 ? 1 : Math.ceil(from / UCS2_PART);
  let used = from - UCS2_PART * (segments - 1);
  let characters = from;
  for (let i = from; i < len; i++) {
    const code = text.charCodeAt(i);
    let size = 1;
    // A surrogate pair must stay in one segment or the handset shows garbage.
    // A lone surrogate is malformed but still costs one unit.
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < len) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        size = 2;
        i++;
      }
    }
    characters++;
    if (used + size > UCS2_PART) {
      segments++;
      used = size;
    } else {
      used += size;
    }
  }
  return { encoding: 'UCS-2', characters, units: len, segments: len <= UCS2_SINGLE ? 1 : segments };
}

/**
 * Segments for `units` septets/code units by the plain textbook formula.
 * Exact when the text has no escape pairs (GSM-7) or surrogate pairs (UCS-2);
 * otherwise the real count can exceed it, because a pair that would straddle a
 * part boundary moves whole to the next part. Use upperBoundSegments for a
 * figure that is safe regardless of content.
 */
export function segmentsForUnits(encoding: Encoding, units: number): number {
  if (units <= 0) return 0;
  const [single, part] = encoding === 'GSM-7' ? [GSM_SINGLE, GSM_PART] : [UCS2_SINGLE, UCS2_PART];
  return units <= single ? 1 : Math.ceil(units / part);
}

/**
 * A safe upper bound on countSegments(text).segments for any text of the given
 * encoding with at most `units` units. The split rule wastes at most one unit
 * per non-final part, so every non-final part carries at least part-1 units;
 * n parts therefore need units >= (part-1)(n-1)+1, i.e. n <= ceil(units/(part-1)).
 * Monotonic in `units`, so an over-estimate of units stays an upper bound.
 */
export function upperBoundSegments(encoding: Encoding, units: number): number {
  if (units <= 0) return 0;
  const [single, part] = encoding === 'GSM-7' ? [GSM_SINGLE, GSM_PART] : [UCS2_SINGLE, UCS2_PART];
  return units <= single ? 1 : Math.ceil(units / (part - 1));
}
