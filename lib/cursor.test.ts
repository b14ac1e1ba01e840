import { AppError } from './errors';
import { decodeCursor, encodeCursor, pageOf } from './cursor';

describe('cursor', () => {
  const c = { createdAt: new Date('2026-11-25T10:11:12.345Z'), id: '3f0b6c1e-2a4d-4c8e-9f10-1234567890ab' };

  it('round-trips and is opaque base64url, at the edges of the accepted range too', () => {
    for (const edge of [new Date(0), new Date('9999-12-31T23:59:59.999Z')]) expect(decodeCursor(encodeCursor({ ...c, createdAt: edge })).createdAt).toEqual(edge);
    const s = encodeCursor(c);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(s)).toEqual(c);
  });

  it.each([
    ['not base64url', 'abc$'],
    ['not JSON', Buffer.from('nope').toString('base64url')],
    ['a bad date', Buffer.from(JSON.stringify({ createdAt: 'yesterday', id: c.id })).toString('base64url')],
    ['a date Postgres cannot hold', Buffer.from(JSON.stringify({ createdAt: '-100000-01-01T00:00:00.000Z', id: c.id })).toString('base64url')],
    ['a date past year 9999', Buffer.from(JSON.stringify({ createdAt: '+010000-01-01T00:00:00.000Z', id: c.id })).toString('base64url')],
    ['a date before 1970', Buffer.from(JSON.stringify({ createdAt: '1969-12-31T23:59:59.999Z', id: c.id })).toString('base64url')],
    ['a date not in the minted form', Buffer.from(JSON.stringify({ createdAt: '2026-11-25', id: c.id })).toString('base64url')],
    ['a bad id', Buffer.from(JSON.stringify({ createdAt: c.createdAt, id: "1' OR 1=1" })).toString('base64url')],
    ['null', Buffer.from('null').toString('base64url')],
    ['too long', 'a'.repeat(500)],
  ])('rejects %s as 400 on cursor', (_why, raw) => {
    let err: unknown;
    try {
      decodeCursor(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'cursor' }] });
  });

  it('pageOf cuts the extra row into nextCursor', () => {
    const rows = [0, 1, 2].map((i) => ({ id: `00000000-0000-4000-8000-00000000000${i}`, created_at: new Date(1_000 - i) }));
    const page = pageOf(rows, 2, (r) => r.id);
    expect(page.data).toEqual([rows[0]!.id, rows[1]!.id]);
    expect(decodeCursor(page.nextCursor!).createdAt).toEqual(rows[1]!.created_at);
    expect(pageOf(rows, 3, (r) => r.id).nextCursor).toBeNull();
  });
});
