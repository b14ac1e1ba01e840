import { readLines } from './jsonl-lines';

async function* chunks(parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield new TextEncoder().encode(p);
}

async function all(parts: string[], maxLineBytes?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const line of readLines(chunks(parts), { maxLineBytes })) out.push(line);
  return out;
}

describe('readLines', () => {
  it('splits lines across chunk boundaries, skips blank lines and keeps a last line without newline', async () => {
    expect(await all(['{"a":1}\n{"b"', ':2}\n\n', '{"c":3}'])).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('decodes a multi-byte character split between chunks', async () => {
    const bytes = new TextEncoder().encode('{"n":"Zoë"}\n');
    async function* split(): AsyncGenerator<Uint8Array> {
      yield bytes.slice(0, 9);
      yield bytes.slice(9);
    }
    const out: string[] = [];
    for await (const line of readLines(split())) out.push(line);
    expect(out).toEqual(['{"n":"Zoë"}']);
  });

  it('refuses a line longer than the bound', async () => {
    await expect(all(['x'.repeat(50), 'y'.repeat(60)], 100)).rejects.toThrow('longer than 100 bytes');
  });
});
