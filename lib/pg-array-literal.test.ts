import { createRequire } from 'node:module';
import { pgArrayLiteral } from './pg-array-literal';

// The driver's own serialisation (not part of its typed API) is the reference.
const { prepareValue } = createRequire(__filename)('pg/lib/utils') as { prepareValue: (v: unknown) => unknown };

// The literal must be the same bytes, so a statement means exactly what it meant before.
const driver = (v: unknown[]): string => prepareValue(v) as string;

describe('pgArrayLiteral', () => {
  it.each([
    ['ids', ['1', '2', '300000000000']],
    ['uuids and nulls', ['0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', null, undefined, 'ffffffff-ffff-ffff-ffff-ffffffffffff']],
    ['numbers, bigints, booleans', [0, -1, 1.5, 12345678901234567890n, true, false, Number.NaN]],
    ['quotes, backslashes, braces, commas, blanks', ['a"b', 'c\\d', '\\"', '{x,y}', ' lead', 'trail ', '', 'NULL', 'null', 'tab\there', 'line\nbreak']],
    ['unicode', ['héllo', '你好', '👋🏽', 'Ω\u0000x']],
    ['JSON text', [JSON.stringify({ reports: [{ id: 'p-1', status: 'delivered', note: 'say "hi" \\ bye' }] })]],
    ['empty', []],
  ])('%s: the same literal as the pg driver writes', (_name, values) => {
    expect(pgArrayLiteral(values)).toBe(driver(values));
  });

  it.each([
    ['a nested array', [['a'], ['b']]],
    ['a date', [new Date(0)]],
    ['a buffer', [Buffer.from('x')]],
    ['an object', [{ a: 1 }]],
  ])('leaves %s to the driver', (_name, values) => {
    expect(pgArrayLiteral(values)).toBeNull();
  });
});
