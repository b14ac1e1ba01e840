import { BoundedMap } from './bounded-map';

describe('BoundedMap', () => {
  it('keeps at most max entries, dropping the oldest added', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2).set('c', 3);
    expect([...m.entries()]).toEqual([['b', 2], ['c', 3]]);
  });

  it('replacing a key drops nothing', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2).set('a', 10);
    expect([...m.entries()]).toEqual([['a', 10], ['b', 2]]);
  });

  it('refuses a size of less than one', () => {
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});
