import { parseBulkBody } from './bulk-body';

// parseBulkBody must answer exactly what JSON.parse of the whole body would
// (or undefined where that throws), however the pieces happen to be cut.

function wholeParse(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const messages = (n: number, text: (i: number) => string): Array<Record<string, string>> =>
  Array.from({ length: n }, (_, i) => ({ from: 'Shop', to: `4917${String(i).padStart(8, '0')}`, text: text(i), type: 'GSM', reference: `r${i}` }));

function expectSameAsWhole(buf: Buffer): void {
  expect(parseBulkBody(buf)).toEqual(wholeParse(buf));
}

describe('parseBulkBody', () => {
  it('parses a large bulk body in pieces to the same value as JSON.parse', () => {
    const buf = Buffer.from(JSON.stringify({ messages: messages(1000, (i) => `Hello ${i}, 30% off today. Reply STOP to opt out.`) }));
    expect(buf.length).toBeGreaterThan(100_000);
    const spy = jest.spyOn(JSON, 'parse');
    try {
      const parsed = parseBulkBody(buf) as { messages: unknown[] };
      expect(parsed.messages).toHaveLength(1000);
      // The point of it: no string of the whole body (V8's large-object space) is made.
      expect(spy.mock.calls.length).toBeGreaterThan(2);
      for (const [text] of spy.mock.calls) expect(text.length).toBeLessThan(64 * 1024);
    } finally {
      spy.mockRestore();
    }
    expectSameAsWhole(buf);
  });

  it('is not fooled by message texts holding the separator, brackets, quotes or non-ASCII text', () => {
    const texts = ['},{', '"},{"to":"1"}', '\\"},{', ']}', '{"messages":[', 'Grüße 😀 },{ ü', '\\\\},{\\\\'];
    const buf = Buffer.from(JSON.stringify({ messages: messages(1000, (i) => `${texts[i % texts.length]} ${'x'.repeat(i % 50)}`) }));
    expectSameAsWhole(buf);
    expect((parseBulkBody(buf) as { messages: Array<{ text: string }> }).messages[0]?.text).toBe('},{ ');
  });

  it('answers undefined for a large body that is not JSON, as JSON.parse would throw', () => {
    const good = JSON.stringify({ messages: messages(1000, (i) => `Hello ${i}`) });
    const broken = [
      good.replace('"r500"}', '"r500"'), // an element left open
      good.replace('},{', '},,{'), // an empty element
      `${good.slice(0, -2)}],"x":[1]]}`, // a stray bracket after the array
      good.replace('"r999"', '"r999'), // an unterminated string near the end
    ];
    for (const text of broken) {
      const buf = Buffer.from(text);
      expect(wholeParse(buf)).toBeUndefined();
      expect(parseBulkBody(buf)).toBeUndefined();
    }
  });

  it('agrees with JSON.parse on valid bodies of other shapes: a repeated or another key, nested arrays, invalid UTF-8', () => {
    const list = JSON.stringify(messages(600, (i) => `Hello ${i}`));
    const repeated = Buffer.from(`{"messages":${list.slice(0, -1)}],"messages":${list}}`);
    expect(repeated.length).toBeGreaterThan(64 * 1024);
    expectSameAsWhole(repeated);
    const another = Buffer.from(`{"messages":${list},"x":[1]}`);
    expectSameAsWhole(another);
    expect(parseBulkBody(another)).toHaveProperty('x', [1]);

    const nested = Buffer.from(`{"messages":[${Array.from({ length: 2000 }, (_, i) => `{"a":[{"b":${i}},{"c":"},{"}]}`).join(',')}]}`);
    expectSameAsWhole(nested);

    // A truncated UTF-8 sequence right before a cut decodes to U+FFFD either way.
    const parts = messages(1000, (i) => `Hello ${i}`).map((m) => Buffer.from(JSON.stringify(m)));
    const bad = Buffer.concat([
      Buffer.from('{"messages":['),
      ...parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(','), i % 97 === 0 ? Buffer.concat([p.subarray(0, p.length - 2), Buffer.from([0xe2, 0x82]), p.subarray(p.length - 2)]) : p])),
      Buffer.from(']}'),
    ]);
    expectSameAsWhole(bad);
    expect(JSON.stringify(parseBulkBody(bad))).toContain('\ufffd');
  });

  it('leaves small or differently shaped bodies to a plain JSON.parse', () => {
    for (const text of ['{"messages":[]}', '{"messages":[{"to":"1"}]}', ' {"messages":[]}', 'not json', '']) {
      expectSameAsWhole(Buffer.from(text));
    }
    const spaced = Buffer.from(JSON.stringify({ messages: messages(1000, (i) => `Hi ${i}`) }, null, 1));
    expectSameAsWhole(spaced);
  });
});
