/**
 * The lines of a streamed body, one at a time, holding at most one line (and
 * the chunk it arrived in) in memory: a download of any size stays flat
 * because the consumer pulls the next line only when it is ready for it.
 * A line longer than `maxLineBytes` throws (a body that is not the JSONL it
 * claims to be). Blank lines are skipped; a last line without its newline is
 * still a line.
 */
export async function* readLines(body: AsyncIterable<Uint8Array>, o: { maxLineBytes?: number } = {}): AsyncGenerator<string> {
  const max = o.maxLineBytes ?? 1 << 20;
  const decoder = new TextDecoder('utf-8');
  let partial = '';
  for await (const chunk of body) {
    const text = partial + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl).trim();
      start = nl + 1;
      if (line) yield line;
    }
    partial = text.slice(start);
    if (partial.length > max) throw new Error(`a line of the body is longer than ${max} bytes`);
  }
  const last = (partial + decoder.decode()).trim();
  if (last) yield last;
}
