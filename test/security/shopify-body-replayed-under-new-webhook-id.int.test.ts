import type { Express } from 'express';
import { phoneHash } from '../../domain/contacts/phone';
import { createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { tableFingerprints } from '../table-fingerprints';
import { postShopify, rid, webhookEvent } from '../webhooks';

// The attack: the dedup key was the unsigned X-Shopify-Webhook-Id alone, so a
// captured signed body resent with a fresh id was applied again: a customer
// body of shop A under shop B's domain gave B that customer's phone and
// email, and an uninstall body re-uninstalled a shop an operator had just
// re-activated. Now the SHA-256 of the body is part of the dedup: a body
// already stored is a duplicate under any id, topic or shop.

describe('a signed Shopify body replayed under a new webhook id', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env.close();
  });

  async function settled(webhookId: string): Promise<string> {
    let status = '';
    await waitFor(`shopify ${webhookId} settled`, async () => {
      status = (await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone';
      return status !== 'received';
    });
    return status;
  }

  it('a customer body of shop A, resent for shop B, is a duplicate and B gains no contact', async () => {
    const a = await createShop(env.db);
    const b = await createShop(env.db);
    const phone = testPhone();
    const body = JSON.stringify({ id: Date.now(), phone, email: 'replayed@example.test', first_name: 'Rae', updated_at: new Date().toISOString() });
    const first = rid('wh');
    expect((await postShopify(app, 'customers/create', body, { shopDomain: a.domain, webhookId: first })).body).toEqual({ received: true });
    expect(await settled(first)).toBe('processed');

    const before = await tableFingerprints(env.db);
    for (const [topic, shopDomain] of [['customers/create', b.domain], ['customers/update', b.domain], ['customers/update', a.domain]] as const) {
      const res = await postShopify(app, topic, body, { shopDomain, webhookId: rid('wh') });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ duplicate: true });
    }
    expect(await tableFingerprints(env.db)).toEqual(before);
    const inB = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${b.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
    expect(inB).toEqual([]);
  });

  it('an uninstall body resent after the shop was re-activated does not uninstall it again', async () => {
    const shop = await createShop(env.db);
    const body = JSON.stringify({ id: 77, domain: shop.domain, myshopify_domain: shop.domain, updated_at: new Date().toISOString() });
    const first = rid('wh');
    await postShopify(app, 'app/uninstalled', body, { shopDomain: shop.domain, webhookId: first });
    expect(await settled(first)).toBe('processed');
    // The operator's re-activation (docs/webhooks.md).
    await env.db.$executeRaw`UPDATE shops SET status = 'active', uninstalled_at = NULL WHERE id = ${shop.id}::uuid`;

    const replay = await postShopify(app, 'app/uninstalled', body, { shopDomain: shop.domain, webhookId: rid('wh') });
    expect(replay.body).toEqual({ duplicate: true });
    await new Promise((r) => setTimeout(r, 300));
    const [row] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shops WHERE id = ${shop.id}::uuid`;
    expect(row?.status).toBe('active');
  });
});
