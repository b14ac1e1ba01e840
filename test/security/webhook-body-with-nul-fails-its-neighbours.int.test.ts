import { createShop, testPhone } from '../factories';
import { useWebhookStack } from '../harness';
import { waitFor } from '../sending';
import { postShopify, postSimulator, rid, webhookEvent } from '../webhooks';

// The attack: a signed body may carry text jsonb refuses (a NUL or an
// unpaired UTF-16 surrogate, e.g. in a customer's note). Its INSERT failed:
// a 500 on every retry (Shopify drops a subscription that keeps failing),
// and, as concurrent deliveries share one INSERT, every other delivery in
// that statement (another shop's webhook, a STOP) failed with it. Now such a
// body is stored with U+FFFD in place of what cannot be stored, the SMS
// provider's is refused at the door, and a shared INSERT that fails is
// retried one delivery at a time.

describe('a signed webhook body with text Postgres cannot store', () => {
  const t = useWebhookStack();

  it('is stored and applied with U+FFFD in its place, and the deliveries sent with it are all stored', async () => {
    const shop = await createShop(t.env.db);
    const poisoned = rid('wh');
    const body = `{"id":${Date.now()},"phone":"${testPhone()}","first_name":"Ann\\u0000e","note":"lone \\ud800 surrogate","updated_at":"${new Date().toISOString()}"}`;
    const neighbours = Array.from({ length: 12 }, (_, i) => ({
      id: rid('wh'),
      body: JSON.stringify({ id: Date.now() + 1 + i, phone: testPhone(), first_name: `N${i}`, updated_at: new Date().toISOString() }),
    }));
    // All at once: most share an INSERT with the poisoned one.
    const answers = await Promise.all([
      postShopify(t.app, 'customers/create', body, { shopDomain: shop.domain, webhookId: poisoned }),
      ...neighbours.map((n) => postShopify(t.app, 'customers/create', n.body, { shopDomain: shop.domain, webhookId: n.id })),
    ]);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    for (const id of [poisoned, ...neighbours.map((n) => n.id)]) {
      await waitFor(`${id} settled`, async () => ((await webhookEvent(t.env.db, 'shopify', id))?.status ?? 'gone') !== 'received');
      expect((await webhookEvent(t.env.db, 'shopify', id))?.status).toBe('processed');
    }
    const [contact] = await t.env.db.$queryRaw<{ first_name: string }[]>`SELECT first_name FROM contacts WHERE shop_id = ${shop.id}::uuid AND first_name LIKE 'Ann%'`;
    expect(contact?.first_name).toBe('Ann\ufffde');
  });

  it('from the SMS provider is refused (400 VALIDATION_FAILED) and stores nothing', async () => {
    const count = async () => Number((await t.env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_events`)[0]!.n);
    const before = await count();
    for (const raw of [`{"id":"${rid('in')}","from":"+12025550123","to":"Marketing\\ud800","text":"STOP"}`, '{"id":"m\\u0000","status":"delivered"}']) {
      const res = await postSimulator(t.app, raw.includes('"text"') ? 'inbound' : 'status', raw);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect(await count()).toBe(before);
  });
});
