import fc from 'fast-check';
import { GSM_BASIC_CHARS, GSM_EXTENSION_CHARS, countSegments, isGsm7 } from './segments';
import {
  OPT_OUT_FOOTER,
  ParsedTemplate,
  Placeholder,
  PLACEHOLDERS,
  TemplatePart,
  TemplateVars,
  hasOptOutInstruction,
  maxRenderedLengthParts,
  parseTemplate,
  renderTemplate,
  renderWithFallbacks,
  upperBoundSegmentsFor,
  upperBoundText,
  withFooter,
} from './template';

function parse(body: string): ParsedTemplate {
  const r = parseTemplate(body);
  if (!r.ok) throw new Error(`unexpected parse errors: ${JSON.stringify(r.errors)}`);
  return r.template;
}

const text = (t: string): TemplatePart => ({ kind: 'text', text: t });
const ph = (name: Placeholder, fallback: string | null = null): TemplatePart => ({ kind: 'placeholder', name, fallback });

describe('parseTemplate: valid bodies', () => {
  it.each<[string, TemplatePart[]]>([
    ['', []],
    ['Plain text', [text('Plain text')]],
    ['Hi {{firstName}}!', [text('Hi '), ph('firstName'), text('!')]],
    ['{{ firstName }}', [ph('firstName')]],
    ['{{\tlastName\n}}', [ph('lastName')]],
    ['{{firstName|there}}', [ph('firstName', 'there')]],
    ['{{ firstName | valued customer }}', [ph('firstName', 'valued customer')]],
    ['{{firstName|}}', [ph('firstName')]],
    ['{{firstName|  }}', [ph('firstName')]],
    ['{{shopName|Our {shop}}', [ph('shopName', 'Our {shop')]],
  ])('%j', (body, parts) => {
    expect(parseTemplate(body)).toEqual({ ok: true, template: { parts } });
  });

  it.each<[string, TemplatePart[]]>([
    ['a { b } c', [text('a { b } c')]],
    ['}} then {', [text('}} then {')]],
    ['{{{firstName}}}', [text('{'), ph('firstName'), text('}')]],
    ['{{firstName}}{{lastName}}', [ph('firstName'), ph('lastName')]],
    ['{{shopName}}: {{firstName|friend}}, 20% off {code}', [ph('shopName'), text(': '), ph('firstName', 'friend'), text(', 20% off {code}')]],
    ['€ {{firstName|Zoë}} 😀', [text('€ '), ph('firstName', 'Zoë'), text(' 😀')]],
  ])('lone braces stay text: %j', (body, parts) => {
    expect(parseTemplate(body)).toEqual({ ok: true, template: { parts } });
  });
});

describe('parseTemplate: errors', () => {
  it.each<[string, { message: RegExp; index: number }[]]>([
    ['Hi {{email}}', [{ message: /Unknown placeholder 'email'.*allowed: firstName, lastName, shopName/, index: 3 }]],
    ['{{FirstName}}', [{ message: /Unknown placeholder 'FirstName'.*did you mean '\{\{firstName\}\}'/, index: 0 }]],
    ['{{email}} {{phone|x}}', [{ message: /'email'/, index: 0 }, { message: /'phone'/, index: 10 }]],
    ['Hi {{firstName', [{ message: /Unclosed '\{\{' at index 3/, index: 3 }]],
    ['Hi {{firstName {{lastName}}', [{ message: /Unclosed '\{\{' at index 3/, index: 3 }]],
    ['{{firstName {{email}}', [{ message: /Unclosed/, index: 0 }, { message: /'email'/, index: 12 }]],
    ['{{}}', [{ message: /Empty placeholder/, index: 0 }]],
    ['{{  }}', [{ message: /Empty placeholder/, index: 0 }]],
    ['{{first name}}', [{ message: /Malformed placeholder in '\{\{first name\}\}'/, index: 0 }]],
    ['{{firstName|a|b}}', [{ message: /more than one '\|'/, index: 0 }]],
    ['{{firstName|a}b}}', [{ message: /may not contain '\}'/, index: 0 }]],
    ['{{|there}}', [{ message: /Malformed placeholder/, index: 0 }]],
    ['Sale\u0000today', [{ message: /cannot contain a NUL character \(index 4\)/, index: 4 }]],
    ['Hi \ud800 there', [{ message: /cannot contain an unpaired UTF-16 surrogate \(index 3\)/, index: 3 }]],
    ['Hi \udfff', [{ message: /unpaired UTF-16 surrogate \(index 3\)/, index: 3 }]],
    ['Hi a\ud83d', [{ message: /unpaired UTF-16 surrogate \(index 4\)/, index: 4 }]],
  ])('%j', (body, expected) => {
    const r = parseTemplate(body);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(expected.length);
    r.errors.forEach((e, i) => {
      expect(e.message).toMatch(expected[i]!.message);
      expect(e.index).toBe(expected[i]!.index);
    });
  });
});

describe('renderTemplate', () => {
  it.each<[string, TemplateVars, string]>([
    ['Hi {{firstName|there}}!', { firstName: 'Ana' }, 'Hi Ana!'],
    ['Hi {{firstName|there}}!', {}, 'Hi there!'],
    ['Hi {{firstName|there}}!', { firstName: null }, 'Hi there!'],
    ['Hi {{firstName|there}}!', { firstName: undefined }, 'Hi there!'],
    ['Hi {{firstName|there}}!', { firstName: '' }, 'Hi there!'],
    ['Hi {{firstName|there}}!', { firstName: ' \t ' }, 'Hi there!'],
    ['Hi {{ firstName | valued customer }}!', {}, 'Hi valued customer!'],
    ['Hi {{firstName}}!', {}, 'Hi !'],
    ['Hi {{firstName}}!', { firstName: null }, 'Hi !'],
    ['Hi {{firstName}}!', { firstName: '  Ana ' }, 'Hi Ana!'],
    ['{{firstName}} {{lastName}}', { lastName: 'Doe' }, 'Doe'],
    ['{{firstName}} {{lastName}}', { firstName: 'Ana' }, 'Ana'],
    ['{{firstName}} {{lastName}}', {}, ''],
    ['{{shopName}}: {{firstName|friend}}, sale!', { shopName: 'Acme', firstName: 'Zoë 😀' }, 'Acme: Zoë 😀, sale!'],
    ['Line1\n{{firstName}}\nLine3', { firstName: 'x' }, 'Line1\nx\nLine3'],
  ])('%j with %j', (body, vars, expected) => {
    expect(renderTemplate(parse(body), vars)).toBe(expected);
  });

  it('never renders "undefined" or "null"', () => {
    const t = parse('{{firstName}}{{lastName}}{{shopName}}{{firstName|}}');
    const value = fc.option(fc.oneof(fc.string(), fc.constant(undefined)), { nil: null });
    fc.assert(
      fc.property(fc.record({ firstName: value, lastName: value, shopName: value }, { requiredKeys: [] }), (vars) => {
        const out = renderTemplate(t, vars);
        const given = Object.values(vars).join('|');
        if (!given.includes('undefined')) expect(out).not.toContain('undefined');
        if (!given.includes('null')) expect(out).not.toContain('null');
      }),
    );
  });

  it('renderWithFallbacks shows every fallback, or nothing', () => {
    const t = parse('Hi {{firstName|there}}, {{shopName|our shop}} says hi {{lastName}}');
    expect(renderWithFallbacks(t)).toBe('Hi there, our shop says hi');
  });
});

describe('withFooter', () => {
  const appended = (s: string): string => `${s}\n${OPT_OUT_FOOTER}`;
  it.each<[string, boolean, string]>([
    ['Sale!', true, appended('Sale!')],
    ['Sale!', false, 'Sale!'],
    ['', true, OPT_OUT_FOOTER],
    ['Sale! Reply STOP to opt out', true, 'Sale! Reply STOP to opt out'],
    ['Sale! reply stop to unsubscribe', true, 'Sale! reply stop to unsubscribe'],
    ['Sale! Text STOP to quit', true, 'Sale! Text STOP to quit'],
    ['Sale! Reply "STOP" to cancel', true, 'Sale! Reply "STOP" to cancel'],
    ['Sale! STOP to end', true, 'Sale! STOP to end'],
    ['Sale! Stop to opt-out', true, 'Sale! Stop to opt-out'],
    // Not opt-out instructions: a missing instruction is worse than a repeated one.
    ["Don't stop to think, buy now", true, appended("Don't stop to think, buy now")],
    ['Nonstop savings', true, appended('Nonstop savings')],
    ['Bus stop sale', true, appended('Bus stop sale')],
  ])('%j enabled=%s', (input, enabled, expected) => {
    expect(withFooter(input, enabled)).toBe(expected);
  });

  it('appends the footer only once', () => {
    const once = withFooter('Big sale', true);
    expect(withFooter(once, true)).toBe(once);
    expect(once.split(OPT_OUT_FOOTER)).toHaveLength(2);
  });

  it('recognises its own footer', () => {
    expect(hasOptOutInstruction(OPT_OUT_FOOTER)).toBe(true);
  });
});

describe('maxRenderedLengthParts / upperBoundText', () => {
  const t = parse('Hi {{firstName|there}} {{lastName}}, {{shopName|our shop}}!');

  it('splits static text and placeholders', () => {
    expect(maxRenderedLengthParts(t)).toEqual({
      staticText: 'Hi  , !',
      placeholders: [
        { name: 'firstName', fallback: 'there' },
        { name: 'lastName', fallback: null },
        { name: 'shopName', fallback: 'our shop' },
      ],
    });
  });

  it('uses the longer of the longest value and the fallback', () => {
    expect(upperBoundText(t, { firstName: 'Al', lastName: 'Smith', shopName: 'Acme Outdoor Gear' })).toBe(
      'Hi there Smith, Acme Outdoor Gear!',
    );
    expect(upperBoundText(t, {})).toBe('Hi there , our shop!');
    // Longer by characters, not UTF-16 units: 4 emoji (8 units) < 'there' (5 chars).
    expect(upperBoundText(t, { firstName: '😀😀😀😀' })).toBe('Hi there , our shop!');
    expect(upperBoundText(t, { firstName: '😀😀😀😀😀😀' })).toBe('Hi 😀😀😀😀😀😀 , our shop!');
  });
});

describe('upperBoundSegmentsFor', () => {
  it.each<[string, string, Partial<Record<Placeholder, string | number>>, boolean, boolean, number]>([
    ['160 GSM septets, no footer', 'a'.repeat(160), {}, false, false, 1],
    ['160 GSM septets + footer', 'a'.repeat(160), {}, false, true, 2], // 182 septets
    ['static text alone is exact-ish', 'a'.repeat(10), {}, true, false, 1],
    // 140 + 2×10 = 160 septets: fits only if each name char may be 2 septets.
    ['values count 2 septets per char', 'a'.repeat(140) + '{{firstName}}', { firstName: 'abcdefghij' }, false, false, 1],
    ['one more char crosses 160', 'a'.repeat(141) + '{{firstName}}', { firstName: 'abcdefghij' }, false, false, 2],
    ['length given as a number', 'a'.repeat(141) + '{{firstName}}', { firstName: 10 }, false, false, 2],
    // anyUnicode: 40 + 2×15 = 70 UCS-2 units.
    ['unicode audience', 'a'.repeat(40) + '{{lastName}}', { lastName: 15 }, true, false, 1],
    ['unicode audience over 70', 'a'.repeat(41) + '{{lastName}}', { lastName: 15 }, true, false, 2],
    ['non-GSM static text is always UCS-2', 'ł'.repeat(71), {}, false, false, 2],
    ['fallback longer than any value', '{{firstName|' + 'b'.repeat(161) + '}}', { firstName: 'x' }, false, false, 2],
  ])('%s', (_name, body, longest, anyUnicode, footer, expected) => {
    expect(upperBoundSegmentsFor(parse(body), longest, anyUnicode, footer)).toBe(expected);
  });

  it('rejects a nonsensical length', () => {
    const t = parse('{{firstName}}');
    expect(() => upperBoundSegmentsFor(t, { firstName: Number.NaN }, false, true)).toThrow(RangeError);
    expect(() => upperBoundSegmentsFor(t, { firstName: -1 }, false, true)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------
// Property: the bound holds for every recipient of any generated audience.

const EMOJI = ['😀', '👍🏽', '🇵🇱', '𝒳'];
const char = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...Array.from(GSM_BASIC_CHARS)) },
  { weight: 3, arbitrary: fc.constantFrom(...Array.from(GSM_EXTENSION_CHARS)) },
  { weight: 1, arbitrary: fc.constantFrom(...EMOJI, 'ł', 'ç', '中') },
);
const gsmChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...Array.from(GSM_BASIC_CHARS)) },
  { weight: 1, arbitrary: fc.constantFrom(...Array.from(GSM_EXTENSION_CHARS)) },
);
const N = 40;
// Sometimes an all-GSM audience, so the GSM-7 branch of the bound is exercised.
const nameValue = (c: fc.Arbitrary<string>): fc.Arbitrary<string | null | undefined> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.string({ unit: c, maxLength: N }) },
    { weight: 1, arbitrary: fc.constantFrom(null, undefined, '', '   ') },
  );
const audience = fc.boolean().chain((gsmOnly) => {
  const v = nameValue(gsmOnly ? gsmChar : char);
  return fc.array(fc.record({ firstName: v, lastName: v, shopName: v }, { requiredKeys: [] }), {
    minLength: 1,
    maxLength: 30,
  });
});

// Fallbacks cannot contain '|' or '}'; static text is anything.
const fallbackChar = char.filter((c) => c !== '|' && c !== '}');
const templateArb: fc.Arbitrary<ParsedTemplate> = fc
  .array(
    fc.oneof(
      fc.string({ unit: char, minLength: 1, maxLength: 120 }).map(text),
      fc
        .tuple(
          fc.constantFrom(...PLACEHOLDERS),
          fc.option(fc.string({ unit: fallbackChar, minLength: 1, maxLength: 20 }), { nil: null }),
        )
        .map(([name, fb]) => ph(name, fb === null || fb.trim() === '' ? null : fb.trim())),
    ),
    { maxLength: 6 },
  )
  .map((parts) => ({ parts }));

const fixedTemplates = [
  'Hi {{firstName|there}}! {{shopName}} has 20% off. Use code SPRING.',
  '{{firstName}} {{lastName}}, ' + 'a'.repeat(100) + ' {{shopName|our shop}}',
  'a'.repeat(130) + '{{firstName}}',
  '€'.repeat(60) + ' {{firstName|Friend}}',
  'Witaj {{firstName|kochanie}}! ' + 'ł'.repeat(50),
].map(parse);

function checkAudience(t: ParsedTemplate, recipients: TemplateVars[], footerEnabled: boolean, asNumbers: boolean): void {
  const longest: Partial<Record<Placeholder, string | number>> = {};
  let anyUnicode = false;
  for (const vars of recipients) {
    for (const name of PLACEHOLDERS) {
      const v = vars[name];
      if (typeof v !== 'string') continue;
      if (!isGsm7(v)) anyUnicode = true;
      const current = longest[name];
      const currentLen = typeof current === 'number' ? current : Array.from(current ?? '').length;
      const len = Array.from(v).length;
      if (current === undefined || len > currentLen) longest[name] = asNumbers ? len : v;
    }
  }
  const bound = upperBoundSegmentsFor(t, longest, anyUnicode, footerEnabled);
  for (const vars of recipients) {
    const message = withFooter(renderTemplate(t, vars), footerEnabled);
    expect(countSegments(message).segments).toBeLessThanOrEqual(bound);
  }
}

describe('upperBoundSegmentsFor property', () => {
  it('bounds every recipient of a generated audience (fixed templates)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...fixedTemplates), audience, fc.boolean(), fc.boolean(), checkAudience),
      { numRuns: 1000 },
    );
  });

  it('bounds every recipient of a generated audience (generated templates)', () => {
    fc.assert(fc.property(templateArb, audience, fc.boolean(), fc.boolean(), checkAudience), { numRuns: 1000 });
  });
});
