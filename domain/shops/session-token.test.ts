import { sessionToken } from '../../test/session-token';
import { verifySessionToken } from './session-token';

const apiKey = 'key-session-token-test';
const apiSecret = 'secret-session-token-test';
const shop = 'verify-me.myshopify.com';

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a rejection');
}

describe('verifySessionToken', () => {
  const t0 = new Date('2026-11-25T10:00:00Z');
  const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);

  it('returns the shop of a valid token, the same on its second use', async () => {
    const token = await sessionToken(shop, { apiKey, secret: apiSecret, now: t0 });
    const first = await verifySessionToken(token, { apiKey, apiSecret, now: t0 });
    const second = await verifySessionToken(token, { apiKey, apiSecret, now: at(5) });
    expect(first).toEqual({ shopDomain: shop, userId: '42', sessionId: 'session-1' });
    expect(second).toEqual(first);
  });

  it('rejects a remembered token once it has expired (10 s tolerance)', async () => {
    const token = await sessionToken(shop, { apiKey, secret: apiSecret, now: t0, expiresInSec: 60 });
    await verifySessionToken(token, { apiKey, apiSecret, now: t0 });
    await expect(verifySessionToken(token, { apiKey, apiSecret, now: at(69) })).resolves.toMatchObject({ shopDomain: shop });
    expect(await rejection(verifySessionToken(token, { apiKey, apiSecret, now: at(70) }))).toBe('Session token expired');
  });

  it('does not serve a token verified under one secret or audience to another', async () => {
    const token = await sessionToken(shop, { apiKey, secret: apiSecret, now: t0 });
    await verifySessionToken(token, { apiKey, apiSecret, now: t0 });
    expect(await rejection(verifySessionToken(token, { apiKey, apiSecret: 'another-secret', now: t0 }))).toBe('Session token invalid');
    expect(await rejection(verifySessionToken(token, { apiKey: 'another-key', apiSecret, now: t0 }))).toBe('Session token invalid');
  });

  it('never remembers a token that failed, and checks nbf', async () => {
    const early = await sessionToken(shop, { apiKey, secret: apiSecret, now: t0, nbfOffsetSec: 30 });
    expect(await rejection(verifySessionToken(early, { apiKey, apiSecret, now: t0 }))).toBe('Session token invalid');
    await expect(verifySessionToken(early, { apiKey, apiSecret, now: at(25) })).resolves.toMatchObject({ shopDomain: shop });
    const forged = `${early.slice(0, -2)}${early.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await rejection(verifySessionToken(forged, { apiKey, apiSecret, now: at(25) }))).toBe('Session token invalid');
  });

  it('takes iss and dest only in the form Shopify mints them: a host alone is not enough', async () => {
    const refused = [
      { dest: `https://someone@${shop}` },
      { dest: `https://${shop}:8443` },
      { dest: `https://${shop}/elsewhere` },
      { dest: `https://${shop}/?x=1` },
      { dest: `https://${shop}/#x` },
      { dest: `http://${shop}` },
      { iss: `https://${shop}` },
      { iss: `https://${shop}/admin/anything` },
      { iss: `https://someone:pw@${shop}/admin` },
      { iss: `https://${shop}:444/admin` },
      { iss: `https://${shop}/admin?x=1` },
    ];
    for (const claim of refused) {
      const token = await sessionToken(shop, { apiKey, secret: apiSecret, now: t0, ...claim });
      expect([claim, await rejection(verifySessionToken(token, { apiKey, apiSecret, now: t0 }))]).toEqual([claim, 'Session token names no valid shop']);
    }
    for (const claim of [{ dest: `https://${shop}/` }, { iss: `https://${shop}/admin/` }, {}]) {
      const token = await sessionToken(shop, { apiKey, secret: apiSecret, now: t0, ...claim });
      await expect(verifySessionToken(token, { apiKey, apiSecret, now: t0 })).resolves.toMatchObject({ shopDomain: shop });
    }
  });

  it('rejects a token whose iss and dest name different shops', async () => {
    const token = await sessionToken(shop, { apiKey, secret: apiSecret, now: t0, iss: 'https://other.myshopify.com/admin' });
    expect(await rejection(verifySessionToken(token, { apiKey, apiSecret, now: t0 }))).toBe('Session token names no valid shop');
  });
});
