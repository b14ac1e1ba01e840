// A strict reader of the TOML subset shopify.app.toml uses (no TOML library
// is installed): comments, [tables], [[arrays of tables]], and `key = value`
// where a value is a basic string, a boolean, an integer or an array of
// strings (which may span lines). Anything else is an error, never a guess.

export type TomlValue = string | boolean | number | string[] | TomlTable | TomlTable[];
export interface TomlTable {
  [key: string]: TomlValue;
}

const KEY = /^[A-Za-z0-9_-]+$/;

function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '"' && line[i - 1] !== '\\') inString = !inString;
    if (ch === '#' && !inString) return line.slice(0, i);
  }
  return line;
}

function parseString(raw: string, where: string): string {
  const m = /^"((?:[^"\\]|\\["\\nt])*)"$/.exec(raw.trim());
  if (!m) throw new Error(`${where}: not a basic string: ${raw}`);
  return m[1]!.replace(/\\(["\\nt])/g, (_, c: string) => ({ n: '\n', t: '\t' })[c] ?? c);
}

function parseValue(raw: string, where: string): TomlValue {
  const v = raw.trim();
  if (v === 'true' || v === 'false') return v === 'true';
  if (/^-?\d+$/.test(v)) return Number(v);
  if (v.startsWith('"')) return parseString(v, where);
  if (v.startsWith('[') && v.endsWith(']')) {
    const inner = v.slice(1, -1).trim();
    if (inner === '') return [];
    const items = inner.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((s) => s.trim()).filter((s, i, all) => s !== '' || i !== all.length - 1);
    return items.map((s) => parseString(s, where));
  }
  throw new Error(`${where}: unsupported value: ${raw}`);
}

export function parseTomlSubset(text: string): TomlTable {
  const root: TomlTable = {};
  let current: TomlTable = root;
  const lines = text.split('\n');
  const tableAt = (path: string[], where: string): TomlTable => {
    let t = root;
    for (const part of path) {
      if (!KEY.test(part)) throw new Error(`${where}: bad table name ${part}`);
      const next = t[part];
      if (next === undefined) t = t[part] = {};
      else if (Array.isArray(next) && typeof next[0] === 'object') t = next[next.length - 1] as TomlTable;
      else if (typeof next === 'object' && !Array.isArray(next)) t = next;
      else throw new Error(`${where}: ${part} is not a table`);
    }
    return t;
  };
  for (let i = 0; i < lines.length; i++) {
    const where = `line ${i + 1}`;
    let line = stripComment(lines[i]!).trim();
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^\[\[([^\]]+)\]\]$/.exec(line))) {
      const path = m[1]!.trim().split('.');
      const parent = tableAt(path.slice(0, -1), where);
      const name = path[path.length - 1]!;
      const list = (parent[name] ??= []) as TomlTable[];
      if (!Array.isArray(list)) throw new Error(`${where}: ${name} is not an array of tables`);
      current = {};
      list.push(current);
      continue;
    }
    if ((m = /^\[([^\]]+)\]$/.exec(line))) {
      current = tableAt(m[1]!.trim().split('.'), where);
      continue;
    }
    if (!(m = /^([A-Za-z0-9_-]+)\s*=\s*(.+)$/.exec(line))) throw new Error(`${where}: not a key = value line: ${line}`);
    const key = m[1]!;
    let raw = m[2]!;
    // An array may span lines until its closing bracket.
    while (raw.trim().startsWith('[') && !raw.trim().endsWith(']')) {
      i++;
      if (i >= lines.length) throw new Error(`${where}: unterminated array`);
      line = stripComment(lines[i]!).trim();
      raw += ` ${line}`;
    }
    if (Object.hasOwn(current, key)) throw new Error(`${where}: duplicate key ${key}`);
    current[key] = parseValue(raw, where);
  }
  return root;
}
