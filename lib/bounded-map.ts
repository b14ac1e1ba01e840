/**
 * A Map that holds at most `max` entries: adding a key when it is full drops
 * the oldest one (by insertion). For per-process memories that must not grow
 * with what clients send (verified tokens, shop rows).
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
    if (!(max >= 1)) throw new RangeError(`BoundedMap needs room for at least one entry, got ${max}`);
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.max) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }
}
