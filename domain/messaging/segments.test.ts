import fc from 'fast-check';
import {
  countSegments,
  Encoding,
  GSM_BASIC_CHARS,
  GSM_EXTENSION_CHARS,
  isGsm7,
  segmentsForUnits,
  upperBoundSegments,
} from './segments';

const a = (n: number): string => 'a'.repeat(n);
const l = (n: number): string => 'ł'.repeat(n); // BMP, not GSM: 1 UCS-2 unit
const EMOJI = '😀'; // surrogate pair: 2 UCS-2 units, 1 character

// Deliberately naive reference: split into code points, cost each, pack.
function referenceCount(text: string): { encoding: Encoding; characters: number; units: number; segments: number } {
  const chars = Array.from(text);
  const gsm = chars.every((c) => GSM_BASIC_CHARS.includes(c) || GSM_EXTENSION_CHARS.includes(c));
  const costs = chars.map((c) => (gsm ? (GSM_EXTENSION_CHARS.includes(c) ? 2 : 1) : c.length));
  const units = costs.reduce((s, c) => s + c, 0);
  const [single, part] = gsm ? [160, 153] : [70, 67];
  let segments = 0;
  if (units > 0 && units <= single) segments = 1;
  else if (units > single) {
    let used = part;
    for (const c of costs) {
      if (used + c > part) {
        segments++;
        used = 0;
      }
      used += c;
    }
  }
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', characters: chars.length, units, segments };
}

describe('GSM alphabet tables', () => {
  it('has the 127 basic characters (128 minus ESC) and 10 extension characters, all distinct', () => {
    expect(Array.from(GSM_BASIC_CHARS)).toHaveLength(127);
    expect(new Set(GSM_BASIC_CHARS).size).toBe(127);
    expect(Array.from(GSM_EXTENSION_CHARS)).toHaveLength(10);
    expect([...GSM_EXTENSION_CHARS].filter((c) => GSM_BASIC_CHARS.includes(c))).toEqual([]);
  });
});

describe('countSegments', () => {
  type Row = [name: string, text: string, encoding: Encoding, characters: number, units: number, segments: number];
  const rows: Row[] = [
    ['empty text is 0 segments', '', 'GSM-7', 0, 0, 0],
    ['single char', 'a', 'GSM-7', 1, 1, 1],
    ['160 septets fit one segment', a(160), 'GSM-7', 160, 160, 1],
    ['161 septets need two', a(161), 'GSM-7', 161, 161, 2],
    ['153 septets', a(153), 'GSM-7', 153, 153, 1],
    ['154 septets (still single-part)', a(154), 'GSM-7', 154, 154, 1],
    ['306 septets = 2 × 153', a(306), 'GSM-7', 306, 306, 2],
    ['307 septets', a(307), 'GSM-7', 307, 307, 3],
    ['158 plain + € = 160 septets', a(158) + '€', 'GSM-7', 159, 160, 1],
    ['159 plain + € = 161 septets', a(159) + '€', 'GSM-7', 160, 161, 2],
    ['151 plain + € exactly fills part 1', a(151) + '€' + a(153), 'GSM-7', 305, 306, 2],
    ['152 plain + € moves the pair to part 2', a(152) + '€' + a(152), 'GSM-7', 305, 306, 3],
    ['152 plain + € + a few', a(152) + '€' + a(10), 'GSM-7', 163, 164, 2],
    ['every extension char costs 2', '^{}\\[~]|€', 'GSM-7', 9, 18, 1],
    ['form feed is an extension char', '\f', 'GSM-7', 1, 2, 1],
    ['whole basic alphabet', GSM_BASIC_CHARS, 'GSM-7', 127, 127, 1],
    ['Ç is GSM basic', 'Ç', 'GSM-7', 1, 1, 1],
    ['ç is not GSM', 'ç', 'UCS-2', 1, 1, 1],
    ['ł forces UCS-2', 'Hello ł', 'UCS-2', 7, 7, 1],
    ['emoji forces UCS-2', 'Hi ' + EMOJI, 'UCS-2', 4, 5, 1],
    ['70 UCS-2 units', l(70), 'UCS-2', 70, 70, 1],
    ['71 UCS-2 units', l(71), 'UCS-2', 71, 71, 2],
    ['67 UCS-2 units', l(67), 'UCS-2', 67, 67, 1],
    ['134 UCS-2 units = 2 × 67', l(134), 'UCS-2', 134, 134, 2],
    ['135 UCS-2 units', l(135), 'UCS-2', 135, 135, 3],
    ['35 emoji = 70 units', EMOJI.repeat(35), 'UCS-2', 35, 70, 1],
    ['36 emoji = 72 units', EMOJI.repeat(36), 'UCS-2', 36, 72, 2],
    ['emoji straddling 67 moves to part 2', l(66) + EMOJI + l(66), 'UCS-2', 133, 134, 3],
    ['emoji ending exactly at 67', l(65) + EMOJI + l(67), 'UCS-2', 133, 134, 2],
    ['GSM prefix then emoji straddling 67', a(66) + EMOJI + a(66), 'UCS-2', 133, 134, 3],
    ['GSM prefix then emoji within single part', a(67) + EMOJI, 'UCS-2', 68, 69, 1],
    ['late non-GSM char switches the whole text', a(100) + 'ł', 'UCS-2', 101, 101, 2],
    ['extension chars cost 1 unit once UCS-2', '€'.repeat(70) + 'ł', 'UCS-2', 71, 71, 2],
    ['lone surrogate is 1 char, 1 unit', '\ud800', 'UCS-2', 1, 1, 1],
    ['ESC itself is not a sendable char', '\x1b', 'UCS-2', 1, 1, 1],
  ];

  it.each(rows)('%s', (_name, text, encoding, characters, units, segments) => {
    expect(countSegments(text)).toEqual({ encoding, characters, units, segments });
  });

  it.each(rows)('matches the naive reference: %s', (_name, text) => {
    expect(countSegments(text)).toEqual(referenceCount(text));
  });
});

describe('segmentsForUnits / upperBoundSegments', () => {
  it.each<[Encoding, number, number, number]>([
    ['GSM-7', 0, 0, 0],
    ['GSM-7', 1, 1, 1],
    ['GSM-7', 160, 1, 1],
    ['GSM-7', 161, 2, 2],
    ['GSM-7', 306, 2, 3],
    ['GSM-7', 307, 3, 3],
    ['UCS-2', 70, 1, 1],
    ['UCS-2', 71, 2, 2],
    ['UCS-2', 134, 2, 3],
    ['UCS-2', 135, 3, 3],
  ])('%s %d units: formula %d, upper bound %d', (encoding, units, formula, bound) => {
    expect(segmentsForUnits(encoding, units)).toBe(formula);
    expect(upperBoundSegments(encoding, units)).toBe(bound);
  });

  it('segmentsForUnits is exact for texts without pairs', () => {
    for (const n of [1, 160, 161, 306, 307, 1000]) {
      expect(countSegments(a(n)).segments).toBe(segmentsForUnits('GSM-7', n));
      expect(countSegments(l(n)).segments).toBe(segmentsForUnits('UCS-2', n));
    }
  });
});

// Biased towards the interesting cases: extension pairs, surrogate pairs,
// plain GSM and non-GSM BMP chars, at lengths around the part boundaries.
const unit = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Array.from(GSM_BASIC_CHARS)) },
  { weight: 2, arbitrary: fc.constantFrom(...Array.from(GSM_EXTENSION_CHARS)) },
  { weight: 1, arbitrary: fc.constantFrom(EMOJI, '👍🏽', '𝒳', 'ł', 'ç', '中', '\ud800') },
);
// Long plain runs with the odd pair: uniform random strings rarely put a pair
// exactly on a part boundary, which is where the interesting bugs are.
const runs = fc
  .array(
    fc.oneof(
      fc.integer({ min: 1, max: 160 }).map(a),
      fc.integer({ min: 1, max: 70 }).map(l),
      fc.constantFrom('€', '\f', EMOJI, '👍🏽'),
    ),
    { maxLength: 8 },
  )
  .map((chunks) => chunks.join(''));
// A pair right around the first part boundary, then enough to need a 3rd part.
const pairAtBoundary = fc.oneof(
  fc
    .tuple(fc.integer({ min: 140, max: 160 }), fc.constantFrom('€', '\f', '^'), fc.integer({ min: 140, max: 170 }))
    .map(([k, pair, m]) => a(k) + pair + a(m)),
  fc
    .tuple(fc.integer({ min: 55, max: 70 }), fc.constantFrom(EMOJI, '𝒳'), fc.integer({ min: 55, max: 75 }))
    .map(([k, pair, m]) => l(k) + pair + l(m)),
);
const smsText = fc.oneof(
  fc.string({ unit, maxLength: 400 }),
  pairAtBoundary,
  // Mostly-GSM texts: a single non-GSM char appears only sometimes.
  fc.string({ unit: fc.oneof({ weight: 30, arbitrary: unit }, fc.constant(EMOJI)), maxLength: 400 }),
  runs,
);

describe('properties', () => {
  it('upperBoundSegments >= countSegments for any text', () => {
    fc.assert(
      fc.property(smsText, (text) => {
        const r = countSegments(text);
        expect(upperBoundSegments(r.encoding, r.units)).toBeGreaterThanOrEqual(r.segments);
        expect(segmentsForUnits(r.encoding, r.units)).toBeLessThanOrEqual(r.segments);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with the naive reference implementation', () => {
    fc.assert(
      fc.property(smsText, (text) => {
        expect(countSegments(text)).toEqual(referenceCount(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('isGsm7 agrees with the chosen encoding', () => {
    fc.assert(
      fc.property(smsText, (text) => {
        expect(isGsm7(text)).toBe(countSegments(text).encoding === 'GSM-7');
      }),
    );
  });
});
