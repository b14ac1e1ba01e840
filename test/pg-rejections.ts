import { pgErrorCode } from '../lib/pg-errors';

// SQLSTATE codes the invariant tests expect Postgres itself to answer with.
export const CHECK = '23514';
export const UNIQUE = '23505';
export const NOT_NULL = '23502';
export const FOREIGN_KEY = '23503';
export const REFUSED = '42501';

/** The write fails, and with this SQLSTATE: the database, not the code, refused it. */
export async function rejectedWith(code: string, write: () => Promise<unknown>): Promise<void> {
  let caught: unknown;
  try {
    await write();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeDefined();
  expect(pgErrorCode(caught)).toBe(code);
}
