import { createHmac } from 'node:crypto';
import { signSimulatorPayload, verifySimulatorSignature } from './simulator-signature';

const secret = 'test-secret';
const body = '{"id":"sim-1","reference":"r-1","status":"delivered","timestamp":"2025-01-01T00:00:00.000Z"}';
const now = 1_700_000_000;

describe('simulator signature', () => {
  it('signs as t=<seconds>,v1=<hex HMAC of "t.body">', () => {
    const expected = createHmac('sha256', secret).update(`${now}.${body}`).digest('hex');
    expect(signSimulatorPayload(secret, body, now)).toBe(`t=${now},v1=${expected}`);
  });

  it('accepts a valid signature, from a string or a Buffer body', () => {
    const header = signSimulatorPayload(secret, body, now);
    expect(verifySimulatorSignature(secret, header, body, now)).toBe(true);
    expect(verifySimulatorSignature(secret, header, Buffer.from(body), now + 299)).toBe(true);
  });

  it('rejects a tampered body', () => {
    const header = signSimulatorPayload(secret, body, now);
    expect(verifySimulatorSignature(secret, header, body.replace('delivered', 'failed'), now)).toBe(false);
  });

  it('rejects a signature made with another secret', () => {
    const header = signSimulatorPayload('other-secret', body, now);
    expect(verifySimulatorSignature(secret, header, body, now)).toBe(false);
  });

  it('rejects a timestamp outside the tolerance, in either direction', () => {
    const header = signSimulatorPayload(secret, body, now);
    expect(verifySimulatorSignature(secret, header, body, now + 301)).toBe(false);
    expect(verifySimulatorSignature(secret, header, body, now - 301)).toBe(false);
    expect(verifySimulatorSignature(secret, header, body, now + 10, 5)).toBe(false);
  });

  it('rejects a re-timestamped header (t is inside the MAC)', () => {
    const v1 = signSimulatorPayload(secret, body, now).split('v1=')[1];
    expect(verifySimulatorSignature(secret, `t=${now + 100},v1=${v1}`, body, now + 100)).toBe(false);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['garbage', 'not a signature'],
    ['no t', `v1=${'a'.repeat(64)}`],
    ['no v1', `t=${now}`],
    ['non-numeric t', `t=abc,v1=${'a'.repeat(64)}`],
    ['short v1', `t=${now},v1=abcd`],
    ['non-hex v1', `t=${now},v1=${'z'.repeat(64)}`],
  ])('rejects a malformed header (%s)', (_label, header) => {
    expect(verifySimulatorSignature(secret, header, body, now)).toBe(false);
  });

  it('rejects two different timestamps in one header', () => {
    const header = signSimulatorPayload(secret, body, now);
    expect(verifySimulatorSignature(secret, `${header},t=${now - 1}`, body, now)).toBe(false);
  });

  it('tolerates spaces, case, unknown keys and extra v1 values (secret rotation)', () => {
    const v1 = signSimulatorPayload(secret, body, now).split('v1=')[1] as string;
    const header = ` T=${now} , v0=legacy, v1=${'0'.repeat(64)}, V1=${v1.toUpperCase()} `;
    expect(verifySimulatorSignature(secret, header, body, now)).toBe(true);
  });

  it('accepts a repeated header delivered as an array', () => {
    const [t, v1] = signSimulatorPayload(secret, body, now).split(',') as [string, string];
    expect(verifySimulatorSignature(secret, [t, v1], body, now)).toBe(true);
  });

  it('refuses to verify with an empty secret', () => {
    const header = signSimulatorPayload('', body, now);
    expect(verifySimulatorSignature('', header, body, now)).toBe(false);
  });
});
