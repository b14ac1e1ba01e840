import { isDbUnavailableError, TransactionExpiredError } from './db';

describe('isDbUnavailableError', () => {
  it.each([
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['Postgres shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['a transaction that outlived its timeout (overload)', new TransactionExpiredError(5_000)],
    ['pool timeout (no connection in time)', new Error('timeout exceeded when trying to connect')],
    ['connection lost mid-query', new Error('Connection terminated unexpectedly')],
    ['wrapped', new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'ECONNRESET' }) })],
  ])('treats %s as unavailable (503, not 500)', (_what, err) => {
    expect(isDbUnavailableError(err)).toBe(true);
  });

  it.each([
    ['a unique violation', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a plain bug', new TypeError('cannot read properties of undefined')],
  ])('does not treat %s as unavailable', (_what, err) => {
    expect(isDbUnavailableError(err)).toBe(false);
  });
});
