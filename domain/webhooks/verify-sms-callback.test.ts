import { signSimulatorPayload } from '../messaging/providers/simulator-signature';
import { isSmsCallbackProvider, verifySmsCallback } from './verify-sms-callback';

describe('verifySmsCallback', () => {
  const secret = 'sms-secret';
  const rawBody = Buffer.from('{"id":"m1","status":"delivered"}');
  const nowSec = 1_800_000_000;

  it('simulator: HMAC header with a timestamp within ±300 s', () => {
    const ok = signSimulatorPayload(secret, rawBody, nowSec - 299);
    expect(verifySmsCallback('simulator', { secret, signature: ok, rawBody, nowSec })).toBe(true);
    expect(verifySmsCallback('simulator', { secret, signature: signSimulatorPayload(secret, rawBody, nowSec - 301), rawBody, nowSec })).toBe(false);
    expect(verifySmsCallback('simulator', { secret, signature: signSimulatorPayload('other', rawBody, nowSec), rawBody, nowSec })).toBe(false);
    expect(verifySmsCallback('simulator', { secret, signature: undefined, rawBody, nowSec })).toBe(false);
    // A token in the URL does not authenticate the simulator.
    expect(verifySmsCallback('simulator', { secret, token: secret, rawBody, nowSec })).toBe(false);
  });

  it('mitto: the secret token of the callback URL, compared in constant time', () => {
    expect(verifySmsCallback('mitto', { secret, token: secret, rawBody, nowSec })).toBe(true);
    expect(verifySmsCallback('mitto', { secret, token: `${secret}x`, rawBody, nowSec })).toBe(false);
    expect(verifySmsCallback('mitto', { secret, token: '', rawBody, nowSec })).toBe(false);
    expect(verifySmsCallback('mitto', { secret, token: [secret], rawBody, nowSec })).toBe(false);
    expect(verifySmsCallback('mitto', { secret, rawBody, nowSec })).toBe(false);
    expect(verifySmsCallback('mitto', { secret: '', token: '', rawBody, nowSec })).toBe(false);
  });

  it('knows only its providers', () => {
    expect(isSmsCallbackProvider('simulator')).toBe(true);
    expect(isSmsCallbackProvider('mitto')).toBe(true);
    expect(isSmsCallbackProvider('constructor')).toBe(false);
  });
});
