import type { Express } from 'express';
import request from 'supertest';
import { clickBufferOf } from '../../apps/api/src/links/short-links';
import { linkCode, trackedLinksOf } from '../../domain/links/link-code';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';

// The attack: a short link names a campaign and a recipient in the clear, so
// edit it — point it at another recipient (to fake their click, or see whose
// it is), at another shop's campaign, or sign one with a guessed or published
// key. Every such code is 404 with the one constant body, redirects nowhere
// and records nothing; even a code signed with the real key (a leak) cannot
// record a click for a recipient of another campaign.

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1';

describe('a short-link code forged for another recipient', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    // A production-like key: the development default must not verify anything here.
    env = await createTestEnv({ LINK_SIGNING_KEY: 'b3f1c9a27d5e48f0a6c2e9d14b7f3a85' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  async function sentCampaign(url: string): Promise<{ shopId: string; campaignId: string; linkNo: number; recipientId: number }> {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Sale', ${`Sale: ${url}`}, 'completed') RETURNING id, link_no`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0) RETURNING id`;
    return { shopId: shop.id, campaignId: c!.id, linkNo: Number(c!.link_no), recipientId: Number(r!.id) };
  }

  const clicks = async (): Promise<number> => Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM link_clicks`)[0]!.n);

  it('is 404 with a constant body and records nothing', async () => {
    const a = await sentCampaign('https://a-shop.example/sale');
    const b = await sentCampaign('https://b-shop.example/private-preview');
    const key = trackedLinksOf(env.config).signingKey;
    const real = linkCode(key, a.linkNo, a.recipientId, 0);

    // The genuine link works (and is the only click recorded below).
    const ok = await request(app).get(`/${real}`).set('User-Agent', IPHONE).redirects(0);
    expect(ok.status).toBe(302);
    expect(ok.headers.location).toMatch(/^https:\/\/a-shop\.example\/sale\?utm_source=sms/);

    const swap = (code: string, from: number, part: string): string => code.slice(0, from) + part + code.slice(from + part.length);
    const otherRecipient = swap(real, 5, linkCode(key, a.linkNo, b.recipientId, 0).slice(5, 12));
    const otherCampaign = swap(real, 0, linkCode(key, b.linkNo, a.recipientId, 0).slice(0, 5));
    const otherLink = swap(real, 12, '1');
    const devKey = linkCode('dev-link-signing-key-not-secret', a.linkNo, a.recipientId, 0);
    const forged = [otherRecipient, otherCampaign, otherLink, devKey];
    for (const code of forged) {
      const res = await request(app).get(`/${code}`).set('User-Agent', IPHONE).redirects(0);
      expect(res.status).toBe(404);
      expect(res.text).toBe('Not found\n');
      expect(res.headers.location).toBeUndefined();
    }

    // A leaked key: a code for shop A's recipient in shop B's campaign redirects to B's own link
    // (a code can name no other destination), but no click is recorded for anyone.
    const leaked = linkCode(key, b.linkNo, a.recipientId, 0);
    const res = await request(app).get(`/${leaked}`).set('User-Agent', IPHONE).redirects(0);
    expect(res.status).toBe(302);
    expect(res.headers.location).toMatch(/^https:\/\/b-shop\.example\/private-preview\?/);

    await clickBufferOf(app).flush();
    expect(await clicks()).toBe(1);
    const [row] = await env.db.$queryRaw<{ campaign_id: string; shop_id: string; recipient_id: bigint }[]>`SELECT campaign_id, shop_id, recipient_id FROM link_clicks`;
    expect(row).toEqual({ campaign_id: a.campaignId, shop_id: a.shopId, recipient_id: BigInt(a.recipientId) });
  });
});
