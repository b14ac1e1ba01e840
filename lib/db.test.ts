import { isDbUnavailableError } from './db';

describe('isDbUnavailableError', () => {
  it.each([
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['Postgres shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['no transaction slot in time (overload)', Object.assign(new Error('Transaction API error: Unable to start a transaction in the given time.'), { code: 'P2028' })],
    ['pool timeout', Object.assign(new Error('Timed out fetching a new connection from the connection pool.'), { code: 'P2024' })],
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
