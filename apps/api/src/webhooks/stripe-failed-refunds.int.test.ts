import type { Express } from 'express';
import type { Server } from 'node:http';
import { releaseReservation, reserveCredits } from '../../../../domain/credits/reservations';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createShop, type ShopFixture } from '../../../../test/factories';
import { waitFor } from '../../../../test/sending';
import { runOps, type OpsIo } from '../../../../scripts/ops/cli';
import { chargeObject, disputeObject, ledgerRows, postStripe, purchaseState, refundObject, rid, sessionObject, stripeEvent, wallet, webhookEvent } from '../../../../test/webhooks';

// A refund that fails (or is cancelled) after `charge.refunded` took the
// pack's credits: the payment stands, so the credits come back, once per
// refund, with a ledger row; a later refund of the payment takes them again.

describe('charge.refund.updated: a failed refund gives the credits back', () => {
  let env: TestEnv;
  let app: Express;
  let server: Server;
  let io: OpsIo;

  beforeAll(async () => {
    env = await createTestEnv();
    const api = await env.api();
    app = api.app;
    await env.worker({ queues: ['webhooks'] });
    // The on-call's replay goes through the ops CLI and the signed internal route of a listening API.
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const port = (server.address() as { port: number }).port;
    io = { config: env.config, db: () => env.db, queues: () => api.deps.queues, apiUrl: `http://127.0.0.1:${port}`, out: () => undefined };
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await env.close();
  });

  async function deliver(type: string, object: Record<string, unknown>): Promise<string> {
    return deliverEvent(stripeEvent(type, object));
  }
  async function deliverEvent(event: Record<string, unknown>): Promise<string> {
    expect((await postStripe(app, event)).status).toBe(200);
    let status = '';
    await waitFor(`stripe event ${event.id as string} settled`, async () => {
      status = (await webhookEvent(env.db, 'stripe', event.id as string))?.status ?? '';
      return status !== '' && status !== 'received';
    });
    return status;
  }
  /** `npm run ops -- webhook:replay <row id>` of a stored event, waited for until processed again. */
  async function replayByHand(event: Record<string, unknown>): Promise<string> {
    const row = await webhookEvent(env.db, 'stripe', event.id as string);
    expect(await runOps(['webhook:replay', row!.id], io)).toBe(0);
    let status = '';
    await waitFor(`stripe event ${event.id as string} replayed`, async () => {
      status = (await webhookEvent(env.db, 'stripe', event.id as string))?.status ?? '';
      return status !== '' && status !== 'received';
    });
    return status;
  }
  async function pendingPurchase(shop: ShopFixture): Promise<string> {
    const sessionId = rid('cs_test');
    await env.db.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${shop.id}::uuid, ${sessionId}, 'starter', 1000, 1000, 'usd')`;
    return sessionId;
  }
  async function paidPack(shop: ShopFixture): Promise<{ sessionId: string; pi: string }> {
    const sessionId = await pendingPurchase(shop);
    const pi = rid('pi');
    expect(await deliver('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }))).toBe('processed');
    return { sessionId, pi };
  }
  const ledger = (shopId: string) => ledgerRows(env.db, shopId);
  const purchase = (sessionId: string) => purchaseState(env.db, sessionId);

  it('restores once per refund; other updates change nothing; a later refund takes them again under keys of its own', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const first = rid('re');
    // Pending and succeeded updates of the refund change nothing.
    expect(await deliver('charge.refund.updated', refundObject(pi, 'pending', { id: first }))).toBe('ignored');
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'succeeded', { id: first }))).toBe('ignored');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });

    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: first }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [first] });
    // Stripe updates a failed refund again (its metadata, say): nothing more.
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: first }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });

    // Refunded again, for good this time; the first refund's failure seen again still gives nothing.
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: first }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    // A second refund cancelled: back again, once.
    const second = rid('re');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'canceled', { id: second }))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'canceled', { id: second }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 'purchase', 1000],
      [`refund-${sessionId}`, 'refund', -1000],
      [`purchase-${sessionId}-restored-0`, 'purchase', 1000],
      [`refund-${sessionId}-r1`, 'refund', -1000],
      [`purchase-${sessionId}-restored-1`, 'purchase', 1000],
    ]);
    expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [first, second] });
  });

  it('gives back what the refund took, not what it could not: the shortfall is cleared and a release pays nothing', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const campaign = await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: null, reservationKey: rid('campaign'), amount: 600 }));
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 600, reserved: 600 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', refund_shortfall: 600n });

    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed'))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 600 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'paid', refund_shortfall: 0n });
    await env.db.$transaction((tx) => releaseReservation(tx, campaign.id));
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 'purchase', 1000],
      [`refund-${sessionId}`, 'refund', -400],
      [`purchase-${sessionId}-restored-0`, 'purchase', 400],
    ]);
  });

  it('a refund seen by the completion, then failed: the grant the purchase never had, once', async () => {
    const shop = await createShop(env.db);
    const sessionId = await pendingPurchase(shop);
    const pi = rid('pi');
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('ignored');
    const completed = sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id });
    expect(await deliver('checkout.session.completed', completed)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });

    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed'))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    // The completion again (async success): granted already.
    expect(await deliver('checkout.session.async_payment_succeeded', completed)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([[`purchase-${sessionId}`, 'purchase', 1000]]);
  });

  it('a lost dispute took the credits: a failed refund of the payment restores nothing', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    expect(await deliver('charge.dispute.closed', disputeObject(pi, 'lost'))).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed'))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await purchase(sessionId)).toMatchObject({ status: 'refunded', failed_refund_ids: [] });
  });

  /** Stripe's event, made `secondsAgo` before now (its `created`: when Stripe made it, not when we get it). */
  const made = (type: string, object: Record<string, unknown>, secondsAgo = 0) => ({ ...stripeEvent(type, object), created: Math.floor(Date.now() / 1000) - secondsAgo });
  /** The ledger with the session's id left out, to compare two purchases' ledgers. */
  const ledgerOf = async (shopId: string, sessionId: string) => (await ledger(shopId)).map(([key, type, amount]) => [String(key).replace(sessionId, '<s>'), type, amount]);

  it('the failure processed before its own charge.refunded: the refund takes the pack and gives it back at once, as in Stripe\'s order; duplicates of either change nothing', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const refundId = rid('re');
    // Stripe made the refund's event first (the refund, then its failure), but the failure is processed first.
    const refunded = made('charge.refunded', chargeObject(pi), 60);
    const failed = made('charge.refund.updated', refundObject(pi, 'failed', { id: refundId }));
    expect(await deliverEvent(failed)).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: refundId }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [] });

    expect(await deliverEvent(refunded)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    // Stripe sends the same events again, and updates the failed refund again: nothing more.
    expect(await deliverEvent(refunded)).toBe('processed');
    expect(await deliverEvent(failed)).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'canceled', { id: refundId }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 'purchase', 1000],
      [`refund-${sessionId}`, 'refund', -1000],
      [`purchase-${sessionId}-restored-0`, 'purchase', 1000],
    ]);
    expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [refundId] });

    // A later refund of the payment is a refund of its own: it takes the pack, under the next round's key.
    expect(await deliver('charge.refunded', chargeObject(pi))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect((await ledger(shop.id)).at(-1)).toEqual([`refund-${sessionId}-r1`, 'refund', -1000]);
  });

  it('either order of a refund and its failure ends the same: same wallet, same ledger, same purchase', async () => {
    const ends = [];
    for (const failureFirst of [false, true]) {
      const shop = await createShop(env.db);
      const { sessionId, pi } = await paidPack(shop);
      const campaign = await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: null, reservationKey: rid('campaign'), amount: 600 }));
      const refundId = rid('re');
      const refunded = made('charge.refunded', chargeObject(pi), 30);
      const failed = made('charge.refund.updated', refundObject(pi, 'failed', { id: refundId }));
      for (const e of failureFirst ? [failed, refunded, failed] : [refunded, failed, refunded]) expect(await deliverEvent(e)).toBe('processed');
      const [p] = await env.db.$queryRaw<{ refund_shortfall: bigint }[]>`SELECT refund_shortfall FROM purchases WHERE stripe_session_id = ${sessionId}`;
      const { failed_refund_ids, ...rest } = await purchase(sessionId);
      const before = { wallet: await wallet(env.db, shop.id), purchase: { ...rest, failed_refund_ids: failed_refund_ids.map((id) => id.replace(refundId, '<re>')) }, shortfall: p!.refund_shortfall };
      // The campaign's credits were never owed: its release gives them to the merchant.
      await env.db.$transaction((tx) => releaseReservation(tx, campaign.id));
      ends.push({ before, after: await wallet(env.db, shop.id), ledger: await ledgerOf(shop.id, sessionId) });
    }
    expect(ends[0]).toEqual({
      before: { wallet: { balance: 1000, reserved: 600 }, purchase: { status: 'paid', refund_shortfall: 0n, failed_refund_ids: ['<re>'] }, shortfall: 0n },
      after: { balance: 1000, reserved: 0 },
      ledger: [
        ['purchase-<s>', 'purchase', 1000],
        ['refund-<s>', 'refund', -400],
        ['purchase-<s>-restored-0', 'purchase', 400],
      ],
    });
    expect(ends[1]).toEqual(ends[0]);
  });

  it('a refund and its failure both before the completion, in either order: the completion grants the pack, once', async () => {
    for (const failureFirst of [false, true]) {
      const shop = await createShop(env.db);
      const sessionId = await pendingPurchase(shop);
      const pi = rid('pi');
      const refunded = made('charge.refunded', chargeObject(pi), 30);
      const failure = refundObject(pi, 'failed');
      const failed = made('charge.refund.updated', failure);
      for (const e of failureFirst ? [failed, refunded] : [refunded, failed]) expect(await deliverEvent(e)).toBe('ignored');
      const completed = sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id });
      expect(await deliver('checkout.session.completed', completed)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
      // The completion again, and the failed refund updated again: nothing more.
      expect(await deliver('checkout.session.async_payment_succeeded', completed)).toBe('processed');
      expect(await deliver('charge.refund.updated', failure)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
      expect(await ledger(shop.id)).toEqual([[`purchase-${sessionId}`, 'purchase', 1000]]);
      expect(await purchase(sessionId)).toMatchObject({ status: 'paid' });
    }
  });

  it('a failure waits only for a refund made before it: a refund Stripe made after the failure takes the pack for good', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    // A partial refund that failed (its charge.refunded, not a full refund, changed nothing)...
    expect(await deliverEvent(made('charge.refunded', chargeObject(pi, { refunded: false }), 120))).toBe('ignored');
    expect(await deliverEvent(made('charge.refund.updated', refundObject(pi, 'failed'), 60))).toBe('processed');
    // ...then a full refund, made after that failure: it is not the failed one.
    expect(await deliverEvent(made('charge.refunded', chargeObject(pi)))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 'purchase', 1000],
      [`refund-${sessionId}`, 'refund', -1000],
    ]);
  });

  it('a processed charge.refunded replayed by hand after its refund failed takes nothing, whatever the order it was processed in; a new refund still takes the pack', async () => {
    for (const order of ['refund first', 'failure first', 'before the completion'] as const) {
      const shop = await createShop(env.db);
      let sessionId: string;
      let pi: string;
      const refundId = rid('re');
      if (order === 'before the completion') {
        sessionId = await pendingPurchase(shop);
        pi = rid('pi');
      } else {
        ({ sessionId, pi } = await paidPack(shop));
      }
      const refunded = made('charge.refunded', chargeObject(pi), 30);
      const failed = made('charge.refund.updated', refundObject(pi, 'failed', { id: refundId }));
      for (const e of order === 'failure first' ? [failed, refunded] : [refunded, failed]) await deliverEvent(e);
      if (order === 'before the completion') {
        expect(await deliver('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }))).toBe('processed');
      }
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });

      // The on-call replays the refund's event (a runbook step, or a bulk replay after an outage): it was undone, not new.
      expect(await replayByHand(refunded)).toBe('processed');
      expect(await replayByHand(refunded)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });
      expect(await purchase(sessionId)).toEqual({ status: 'paid', refund_shortfall: 0n, failed_refund_ids: [refundId] });

      // A new refund of the payment is a refund of its own: it takes the pack, once, and its replay takes nothing more.
      const again = made('charge.refunded', chargeObject(pi));
      expect(await deliverEvent(again)).toBe('processed');
      expect(await replayByHand(again)).toBe('processed');
      expect(await replayByHand(refunded)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
      expect((await ledger(shop.id)).filter(([key]) => String(key).startsWith('refund-'))).toEqual(
        order === 'before the completion' ? [[`refund-${sessionId}-r1`, 'refund', -1000]] : [[`refund-${sessionId}`, 'refund', -1000], [`refund-${sessionId}-r1`, 'refund', -1000]],
      );
    }
  });

  it('a charge that lists its refunds: the failed refund\'s charge.refunded, sent again as a new event or replayed, takes nothing; a charge naming a new refund does', async () => {
    const shop = await createShop(env.db);
    const { sessionId, pi } = await paidPack(shop);
    const first = rid('re');
    const refunded = made('charge.refunded', chargeObject(pi, { refunds: [first] }), 30);
    expect(await deliverEvent(refunded)).toBe('processed');
    expect(await deliver('charge.refund.updated', refundObject(pi, 'failed', { id: first }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });

    // The same refund in an event of another id (Stripe sending it again), and the stored one replayed: nothing.
    expect(await deliver('charge.refunded', chargeObject(pi, { refunds: [first] }))).toBe('processed');
    expect(await replayByHand(refunded)).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 1000, reserved: 0 });

    // The charge refunded again: it lists the new refund beside the failed one.
    const second = rid('re');
    expect(await deliver('charge.refunded', chargeObject(pi, { refunds: [second, first] }))).toBe('processed');
    expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
    expect(await ledger(shop.id)).toEqual([
      [`purchase-${sessionId}`, 'purchase', 1000],
      [`refund-${sessionId}`, 'refund', -1000],
      [`purchase-${sessionId}-restored-0`, 'purchase', 1000],
      [`refund-${sessionId}-r1`, 'refund', -1000],
    ]);
  });

  /** Stripe's event, made at `created` (seconds). */
  const at = (type: string, object: Record<string, unknown>, created: number) => ({ ...stripeEvent(type, object), created });

  it('a charge that lists its refunds pairs a failure with its own refund only: a partial refund that failed in the second a full refund was made leaves the full refund standing, in either order', async () => {
    for (const failureFirst of [true, false]) {
      const shop = await createShop(env.db);
      const { sessionId, pi } = await paidPack(shop);
      const partial = rid('re');
      const full = rid('re');
      const now = Math.floor(Date.now() / 1000);
      expect(await deliverEvent(at('charge.refunded', chargeObject(pi, { refunded: false, refunds: [partial] }), now - 60))).toBe('ignored');
      // The partial refund failed, and the full refund was made, in the same second; the charge lists the failed one beside it.
      const failed = at('charge.refund.updated', refundObject(pi, 'failed', { id: partial, created: now - 60 }), now);
      const refunded = at('charge.refunded', chargeObject(pi, { refunds: [full, { id: partial, status: 'failed' }] }), now);
      for (const e of failureFirst ? [failed, refunded] : [refunded, failed]) expect(await deliverEvent(e)).toBe('processed');
      expect(await wallet(env.db, shop.id)).toEqual({ balance: 0, reserved: 0 });
      expect(await ledger(shop.id)).toEqual([
        [`purchase-${sessionId}`, 'purchase', 1000],
        [`refund-${sessionId}`, 'refund', -1000],
      ]);
      expect(await purchase(sessionId)).toEqual({ status: 'refunded', refund_shortfall: 0n, failed_refund_ids: [] });
    }
  });

  /**
   * A full refund (r0) that failed, then a new full refund (r1), Stripe's order E0 F0 E1 [F1], delivered
   * in `order`: the end (wallet, purchase, ledger) of the natural order, whatever the order.
   */
  async function twoRefunds(order: string[], o: { listed: boolean; atOnce?: boolean; completedLast?: boolean }) {
    const shop = await createShop(env.db);
    let sessionId: string;
    let pi: string;
    if (o.completedLast) {
      sessionId = await pendingPurchase(shop);
      pi = rid('pi');
    } else {
      ({ sessionId, pi } = await paidPack(shop));
    }
    const [r0, r1] = [rid('re'), rid('re')];
    const now = Math.floor(Date.now() / 1000);
    const events: Record<string, Record<string, unknown>> = {
      E0: at('charge.refunded', chargeObject(pi, o.listed ? { refunds: [r0] } : {}), now - 300),
      F0: at('charge.refund.updated', refundObject(pi, 'failed', { id: r0, created: now - 300 }), now - 200),
      E1: at('charge.refunded', chargeObject(pi, o.listed ? { refunds: [r1, { id: r0, status: 'failed' }] } : {}), now - 100),
      F1: at('charge.refund.updated', refundObject(pi, 'failed', { id: r1, created: now - 100 }), now),
    };
    if (o.atOnce) {
      // The first in order, then the others all at once (the webhooks worker runs them side by side).
      expect(await deliverEvent(events[order[0]!]!)).toBe('processed');
      expect(await Promise.all(order.slice(1).map((name) => deliverEvent(events[name]!)))).toEqual(order.slice(1).map(() => 'processed'));
    } else {
      for (const name of order) expect(await deliverEvent(events[name]!)).toBe(o.completedLast ? 'ignored' : 'processed');
    }
    if (o.completedLast) expect(await deliver('checkout.session.completed', sessionObject(sessionId, { paymentIntent: pi, shopId: shop.id }))).toBe('processed');
    const { status } = await purchase(sessionId);
    return { order: order.join(' '), wallet: await wallet(env.db, shop.id), status, ledger: await ledgerOf(shop.id, sessionId) };
  }

  it('a failure of another refund than the one that took the pack waits for its own: two refunds that both failed, in any order, end as in Stripe\'s', async () => {
    for (const listed of [false, true]) {
      const natural = await twoRefunds(['E0', 'F0', 'E1', 'F1'], { listed });
      expect(natural).toMatchObject({ wallet: { balance: 1000, reserved: 0 }, status: 'paid' });
      for (const order of [['E0', 'F1', 'F0', 'E1'], ['F1', 'E0', 'F0', 'E1'], ['E1', 'F1', 'E0', 'F0'], ['F1', 'E1', 'F0', 'E0']]) {
        expect(await twoRefunds(order, { listed })).toEqual({ ...natural, order: order.join(' ') });
      }
    }
  });

  const permutations = (xs: string[]): string[][] =>
    xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));

  // The new refund stands (E0 F0 E1), or fails too (E0 F0 E1 F1); the charge lists its refunds, or not (as Stripe sends it now).
  for (const natural of [['E0', 'F0', 'E1'], ['E0', 'F0', 'E1', 'F1']]) {
    for (const listed of [false, true]) {
      it(`a new refund delivered while the failed refund before it still holds the pack: every order of ${natural.join(' ')} ends as Stripe's (refunds ${listed ? 'listed' : 'not listed'})`, async () => {
        const want = await twoRefunds(natural, { listed });
        expect(want).toMatchObject(natural.length === 3 ? { wallet: { balance: 0, reserved: 0 }, status: 'refunded' } : { wallet: { balance: 1000, reserved: 0 }, status: 'paid' });
        for (const order of permutations(natural)) expect(await twoRefunds(order, { listed })).toEqual({ ...want, order: order.join(' ') });
      }, 120_000);
    }
  }

  it('two refunds, the first failed, both before the completion, in any order: the completion grants the pack and the second refund takes it; both failed: the pack stays', async () => {
    for (const listed of [false, true]) {
      for (const order of permutations(['E0', 'F0', 'E1'])) {
        expect(await twoRefunds(order, { listed, completedLast: true })).toMatchObject({ wallet: { balance: 0, reserved: 0 }, status: 'refunded' });
      }
      for (const order of [['E0', 'F0', 'E1', 'F1'], ['F1', 'E1', 'F0', 'E0'], ['E1', 'E0', 'F1', 'F0']]) {
        expect(await twoRefunds(order, { listed, completedLast: true })).toMatchObject({ wallet: { balance: 1000, reserved: 0 }, status: 'paid' });
      }
    }
  }, 120_000);

  it('the first refund taken, then its failure, the new refund and that one\'s failure all at once: the end of Stripe\'s order, every time', async () => {
    const want = await twoRefunds(['E0', 'F0', 'E1', 'F1'], { listed: false });
    for (let round = 0; round < 8; round++) {
      const listed = round % 2 === 1;
      expect(await twoRefunds(['E0', 'F0', 'E1', 'F1'], { listed, atOnce: true })).toEqual(want);
      expect(await twoRefunds(['E0', 'F0', 'E1'], { listed, atOnce: true })).toMatchObject({ wallet: { balance: 0, reserved: 0 }, status: 'refunded' });
    }
  }, 120_000);

  it('a failed refund of a payment we hold no purchase for is recorded and ignored', async () => {
    expect(await deliver('charge.refund.updated', refundObject(rid('pi'), 'failed'))).toBe('ignored');
  });
});
