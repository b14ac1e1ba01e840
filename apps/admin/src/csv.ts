// CSV read in the browser (RFC 4180: quoted fields, "" inside quotes, CRLF or
// LF), so the merchant maps columns before anything is uploaded.

export interface CsvRow {
  /**
   * The 1-based line of the file the row starts on. Blank lines are skipped
   * and a quoted field may span lines, so it is not the row's index + 1: it
   * is what sends the merchant to the right row of their file.
   */
  line: number;
  cells: string[];
}

export function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const endRow = (): void => {
    row.push(field);
    if (row.some((f) => f !== '')) rows.push({ line: rowLine, cells: row });
    row = [];
    field = '';
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted) {
      if (c === '"') {
        if (s[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        field += c;
        // A line break inside quotes is part of the field, and still a line of the file.
        if (c === '\n' || (c === '\r' && s[i + 1] !== '\n')) line++;
      }
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else field += c;
  }
  endRow();
  return rows;
}

const quote = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

export function toCsv(rows: (string | number)[][]): string {
  return rows.map((r) => r.map((v) => quote(String(v))).join(',')).join('\r\n') + '\r\n';
}
