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

  it('during a rotation, the previous secret is still accepted and said to be the previous one', () => {
    const previousSecret = 'old-sms-secret';
    expect(verifySmsCallback('mitto', { secret, previousSecret, token: secret, rawBody, nowSec })).toBe(true);
    expect(verifySmsCallback('mitto', { secret, previousSecret, token: previousSecret, rawBody, nowSec })).toBe('previous');
    expect(verifySmsCallback('mitto', { secret, previousSecret, token: 'neither', rawBody, nowSec })).toBe(false);
    const oldSig = signSimulatorPayload(previousSecret, rawBody, nowSec);
    expect(verifySmsCallback('simulator', { secret, previousSecret, signature: oldSig, rawBody, nowSec })).toBe('previous');
    // Without a previous secret configured, the old one is refused.
    expect(verifySmsCallback('mitto', { secret, token: previousSecret, rawBody, nowSec })).toBe(false);
  });

  it('knows only its providers', () => {
    expect(isSmsCallbackProvider('simulator')).toBe(true);
    expect(isSmsCallbackProvider('mitto')).toBe(true);
    expect(isSmsCallbackProvider('constructor')).toBe(false);
  });
});
