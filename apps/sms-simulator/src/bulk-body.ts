import { parseJson } from './http-io';

// A bulk body of 1 000 messages is ~200 KB. Decoded as one string it lands in
// V8's large-object space (every string over 128 KB does), whose allocation
// and release (a fresh mapping per object) cost several times the JSON.parse
// itself. So a body shaped as the Mitto adapter writes it,
// `{"messages":[{…},{…},…]}`, is decoded and parsed in pieces of a few dozen
// KB, cut between two messages, and the pieces' arrays joined.
//
// The result is exactly JSON.parse of the whole body, or the whole body is
// parsed after all: each piece is `[` + a run of the array's text + `]`, and a
// cut inside a string or a nested value leaves a piece that does not parse
// (its string or bracket is never closed), which falls back. Cuts are at
// ASCII bytes, so decoding the pieces as UTF-8 gives the whole body's text.

const PREFIX = Buffer.from('{"messages":[');
const SUFFIX = Buffer.from(']}');
const BETWEEN = Buffer.from('},{');
const PIECE_BYTES = 32 * 1024;

/** JSON.parse of a /smsbulk body (undefined when it is not JSON). */
export function parseBulkBody(buf: Buffer): unknown {
  const end = buf.length - SUFFIX.length;
  if (
    buf.length <= 2 * PIECE_BYTES ||
    buf.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0 ||
    buf.compare(SUFFIX, 0, SUFFIX.length, end) !== 0
  ) {
    return parseJson(buf);
  }
  const messages: unknown[] = [];
  let start = PREFIX.length;
  while (start < end) {
    const cut = end - start > PIECE_BYTES ? buf.indexOf(BETWEEN, start + PIECE_BYTES) : -1;
    // The piece ends with the `}` of the cut; the next starts after its comma.
    const stop = cut < 0 || cut >= end ? end : cut + 1;
    let piece: unknown;
    try {
      piece = JSON.parse(`[${buf.toString('utf8', start, stop)}]`);
    } catch {
      return parseJson(buf);
    }
    for (const m of piece as unknown[]) messages.push(m);
    start = stop + 1;
  }
  return { messages };
}
