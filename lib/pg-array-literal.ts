/**
 * A Postgres array literal for a flat array of strings, numbers, bigints,
 * booleans and nulls, byte for byte what the pg driver writes for it
 * (every element quoted, `\` and `"` escaped, null as NULL), or null for
 * anything else (nested arrays, dates, buffers, objects), which the driver
 * then serialises itself. The set-based statements pass thousands of ids a
 * call; the driver escaped each with two regular-expression replaces, most
 * of which find nothing to replace (a tenth of the worker's CPU in a send).
 */
export function pgArrayLiteral(values: readonly unknown[]): string | null {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) {
      out += 'NULL';
      continue;
    }
    let s: string;
    switch (typeof v) {
      case 'string':
        s = v;
        break;
      case 'number':
      case 'bigint':
      case 'boolean':
        s = v.toString();
        break;
      default:
        return null;
    }
    out += s.includes('\\') || s.includes('"') ? `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : `"${s}"`;
  }
  return `${out}}`;
}
