import { parseCsv, toCsv } from '../apps/admin/src/csv';

// The admin's CSV reader (apps/admin/src/csv.ts): each row with the line of
// the file it starts on, which the import card shows for a rejected row.
// Spreadsheet exports have blank lines and quoted fields that span lines, so
// the line is counted, never derived from the row's index.

describe('parseCsv', () => {
  it('reads quoted fields, "" inside quotes, a BOM, CRLF and LF', () => {
    const rows = parseCsv('\ufeffphone,name\r\n"+1 201 555 0123","Lovelace, ""Ada"""\n+12015550124,Alan');
    expect(rows.map((r) => r.cells)).toEqual([
      ['phone', 'name'],
      ['+1 201 555 0123', 'Lovelace, "Ada"'],
      ['+12015550124', 'Alan'],
    ]);
  });

  it('gives each row the line it starts on, past blank lines', () => {
    const rows = parseCsv(['phone,name', '+12015550131,Grace', '', ',', '+12015550132,Alan', 'not-a-phone,Bad', ''].join('\n'));
    expect(rows).toEqual([
      { line: 1, cells: ['phone', 'name'] },
      { line: 2, cells: ['+12015550131', 'Grace'] },
      { line: 5, cells: ['+12015550132', 'Alan'] },
      { line: 6, cells: ['not-a-phone', 'Bad'] },
    ]);
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('counts the lines of a quoted field that spans them (%s)', (_name, eol) => {
    const text = ['phone,note', `+12015550131,"two${eol}lines"`, `+12015550132,"three${eol}${eol}lines"`, 'bad,x'].join(eol);
    expect(parseCsv(text).map((r) => r.line)).toEqual([1, 2, 4, 7]);
    expect(parseCsv(text)[1]!.cells[1]).toBe(`two${eol}lines`);
  });

  it('reads back what toCsv writes', () => {
    const rows = [['line', 'message'], ['5', 'a "quoted",\nmulti-line text']];
    expect(parseCsv(toCsv(rows)).map((r) => r.cells)).toEqual(rows);
  });
});
