import { jobIds } from '../../queue/job-ids';
import { createCampaign, createContactsBulk, createShop, grantCredits } from '../../test/factories';
import { useSimulatedSends } from '../../test/harness';
import { campaignStatus, disableQuietHours, moneyState, recipientCounts } from '../../test/sending';
import { reserveCredits } from '../credits/reservations';
import { UNGUARDED } from '../idempotency/guard';
import { enqueueCampaign } from './enqueue-campaign';
import { launchCampaign, type LaunchDeps } from './launch-campaign';
import { sendBatch } from './send-batch';

// Contacts who subscribe between a campaign's enqueue (which reserved credits
// for the audience counted then) and its launch (hours later for a scheduled
// campaign) are paid for by the launch: it tops the reservation up from the
// available balance, chunk by chunk, or materialises them `skipped`
// (insufficient_credits) when the shop cannot pay. A send is never charged
// beyond what the campaign reserved.
describe('launchCampaign and the credits of contacts who subscribed after the enqueue', () => {
  const t = useSimulatedSends();

  // Batches of 100, chunks of one batch: 270 recipients take three chunks.
  const at = new Date(Date.now() + 3_600_000);
  const deps = (o: Partial<LaunchDeps> = {}): LaunchDeps => ({ db: t.env.db, producer: t.worker.producer, now: () => at, batchSize: 100, firstChunk: 100, maxChunk: 100, ...o });
  const send = (job: { campaignId: string; shopId: string; traceId: string }, batchNo: number) =>
    sendBatch({ db: t.env.db, provider: t.provider, now: () => new Date(), leaseMs: 60_000, phoneHashKey: t.env.config.PHONE_HASH_KEY, quietHoursFloor: t.env.config.SMS_QUIET_HOURS_FLOOR }, { ...job, batchNo });

  /** A campaign enqueued (POST …/enqueue) for `before` subscribers, scheduled for `at`; then `after` more subscribe. */
  async function scheduledThenSubscribed(o: { before: number; after: number; credits: number }) {
    const shop = await createShop(t.env.db, { credits: o.credits });
    await disableQuietHours(t.env.db, shop.id);
    await createContactsBulk(t.env.db, shop.id, o.before);
    // Two segments a message: a top-up counted per recipient instead of per segment would show.
    const campaign = await createCampaign(t.env.db, shop.id, { scheduledAt: at, body: `Hi {{firstName|there}}, ${'our spring sale starts today with 20% off everything in store. '.repeat(2)}` });
    const enqueued = await enqueueCampaign(t.worker, { shopId: shop.id, campaignId: campaign.id, guard: UNGUARDED, traceId: `trace-${campaign.id}`, now: new Date(), responseStatus: 202 });
    expect(enqueued.result).toMatchObject({ recipients: o.before, campaign: { status: 'scheduled' } });
    await createContactsBulk(t.env.db, shop.id, o.after, { startAt: o.before });
    const [c] = await t.env.db.$queryRaw<{ per: number }[]>`SELECT segments_per_message AS per FROM campaigns WHERE id = ${campaign.id}::uuid`;
    const per = c!.per;
    expect(per).toBeGreaterThanOrEqual(2);
    expect(enqueued.result.creditsReserved).toBe(o.before * per);
    return { shopId: shop.id, campaignId: campaign.id, per, job: { campaignId: campaign.id, shopId: shop.id, traceId: `trace-${campaign.id}` } };
  }

  async function reservation(campaignId: string) {
    const [r] = await t.env.db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint; status: string }[]>`
      SELECT amount, consumed, released, status FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid`;
    return { amount: Number(r!.amount), consumed: Number(r!.consumed), released: Number(r!.released), status: r!.status };
  }

  /** What the campaign was charged (its ledger rows) beside what its reservation gave: equal when nothing was charged beyond it. */
  async function charged(campaignId: string): Promise<number> {
    const [l] = await t.env.db.$queryRaw<{ debited: bigint | null }[]>`
      SELECT -sum(amount) AS debited FROM credit_transactions WHERE reference = ${`campaign:${campaignId}`}`;
    return Number(l?.debited ?? 0);
  }

  it('tops the reservation up at launch for them, so the send charges nothing beyond what the campaign reserved', async () => {
    const { shopId, campaignId, per, job } = await scheduledThenSubscribed({ before: 150, after: 120, credits: 100_000 });

    expect(await launchCampaign(deps(), job)).toEqual({ outcome: 'launched', recipients: 270, batches: 3, completed: false });
    // Every materialised recipient is covered at the enqueue's per-message bound.
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ pending: 270 });
    expect((await reservation(campaignId)).amount).toBe(270 * per);
    const held = await moneyState(t.env.db, shopId);
    expect(held.reserved).toBe(270 * per);
    expect(held.reserved).toBe(held.activeRemaining);

    for (const b of [0, 1, 2]) expect(await send(job, b)).toMatchObject({ outcome: 'done' });
    expect(t.sim.stats().messagesAccepted).toBe(270);
    expect(await campaignStatus(t.env.db, campaignId)).toBe('completed');
    const r = await reservation(campaignId);
    expect(await charged(campaignId)).toBe(r.consumed);
    expect(r).toMatchObject({ status: 'closed', amount: r.consumed + r.released });
    const m = await moneyState(t.env.db, shopId);
    expect(m).toMatchObject({ reserved: 0, activeRemaining: 0, balance: 100_000 - r.consumed });
    expect(m.ledgerSum).toBe(m.balance);
  });

  it('when the shop cannot pay for them, materialises only what the reservation and the available credits cover; the rest are skipped (insufficient_credits), never sent nor charged', async () => {
    const { shopId, campaignId, per, job } = await scheduledThenSubscribed({ before: 150, after: 120, credits: 100_000 });
    // Another hold (a campaign of the shop) leaves 30 recipients' worth available.
    const before = await moneyState(t.env.db, shopId);
    const available = before.balance - before.reserved;
    await t.env.db.$transaction((tx) => reserveCredits(tx, { shopId, campaignId: null, reservationKey: `other-${campaignId}`, amount: available - 30 * per }));

    // Credits bought while the launch runs do not bring back what it skipped:
    // from the first contact it could not pay for, the rest of the audience is skipped.
    const launched = await launchCampaign(deps({ afterChunk: (k) => (k === 1 ? grantCredits(t.env.db, shopId, 1_000 * per) : undefined) }), job);
    expect(launched).toEqual({ outcome: 'launched', recipients: 270, batches: 3, completed: false });
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ pending: 180, skipped: 90 });
    const [skipped] = await t.env.db.$queryRaw<{ n: bigint; coded: bigint; final: bigint; first_skipped_after_last_pending: boolean }[]>`
      SELECT count(*) AS n, count(*) FILTER (WHERE error_code = 'insufficient_credits') AS coded, count(final_at) AS final,
             min(contact_id::text) > (SELECT max(contact_id::text) FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND status = 'pending') AS first_skipped_after_last_pending
        FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND status = 'skipped'`;
    expect(skipped).toEqual({ n: 90n, coded: 90n, final: 90n, first_skipped_after_last_pending: true });
    // The batch of skipped recipients only is done at once: no send job for it.
    const batches = await t.env.db.$queryRaw<{ batch_no: number; recipient_count: number; status: string }[]>`
      SELECT batch_no, recipient_count, status FROM campaign_batches WHERE campaign_id = ${campaignId}::uuid ORDER BY batch_no`;
    expect(batches).toEqual([
      { batch_no: 0, recipient_count: 100, status: 'pending' },
      { batch_no: 1, recipient_count: 100, status: 'pending' },
      { batch_no: 2, recipient_count: 70, status: 'done' },
    ]);
    const jobs = (await t.worker.queues.get('sends').getJobs(['waiting', 'delayed', 'prioritized'])).filter((j) => j.data.campaignId === campaignId);
    expect(jobs.map((j) => j.id).sort()).toEqual([0, 1].map((b) => jobIds.sendBatch(campaignId, b)).sort());
    expect((await reservation(campaignId)).amount).toBe(180 * per);
    const held = await moneyState(t.env.db, shopId);
    expect(held.reserved).toBe(held.activeRemaining);
    expect(held.balance - held.reserved).toBe(1_000 * per);

    for (const b of [0, 1]) expect(await send(job, b)).toMatchObject({ outcome: 'done' });
    expect(t.sim.stats().messagesAccepted).toBe(180);
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ sent: 180, skipped: 90 });
    expect(await campaignStatus(t.env.db, campaignId)).toBe('completed');
    const r = await reservation(campaignId);
    expect(await charged(campaignId)).toBe(r.consumed);
    const m = await moneyState(t.env.db, shopId);
    expect(m.reserved).toBe(available - 30 * per);
    expect(m.reserved).toBe(m.activeRemaining);
    expect(m.ledgerSum).toBe(m.balance);
  });

  it('a launch killed after a chunk that topped up, run again (and concurrently), tops up each recipient once', async () => {
    const { shopId, campaignId, per, job } = await scheduledThenSubscribed({ before: 150, after: 120, credits: 100_000 });

    // Chunk 1 (recipients 100–199, 50 more than reserved) commits its top-up; the process dies.
    await expect(launchCampaign(deps({ afterChunk: (k) => { if (k === 1) throw new Error('SIGKILL'); } }), job)).rejects.toThrow('SIGKILL');
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ pending: 200 });
    expect((await reservation(campaignId)).amount).toBe(200 * per);

    const runs = await Promise.all([launchCampaign(deps(), job), launchCampaign(deps(), job), launchCampaign(deps({ maxChunk: 300 }), job)]);
    for (const run of runs) expect(run).toMatchObject({ outcome: 'launched', recipients: 270, batches: 3 });
    expect(await launchCampaign(deps(), job)).toMatchObject({ outcome: 'launched', recipients: 270, batches: 3 });
    expect(await recipientCounts(t.env.db, campaignId)).toEqual({ pending: 270 });
    expect((await reservation(campaignId)).amount).toBe(270 * per);
    const m = await moneyState(t.env.db, shopId);
    expect(m).toMatchObject({ reserved: 270 * per, activeRemaining: 270 * per, balance: 100_000 });
  });
  // The enqueue sized every message from the longest names of the audience
  // as it was then (segments_per_message). A contact who subscribes, or is
  // renamed, with a longer name afterwards needs more segments than that.
  describe('with longer names than the enqueue sized', () => {
    /** Three segments a message at most for a 150-character first name, one for the bulk contacts' ("Friend<n>"). */
    const BODY = 'Hi {{firstName|there}}, our spring sale starts today.';
    const LONG = 'B'.repeat(150);

    /** `n` subscribed contacts with `firstName`, phones numbered on from `startAt` as createContactsBulk numbers them. */
    async function subscribeNamed(shopId: string, n: number, startAt: number, firstName: string): Promise<void> {
      await t.env.db.$executeRaw`
        INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent)
        SELECT ${shopId}::uuid, p, encode(sha256(p::bytea), 'hex'), ${firstName}, 'Tester', 'subscribed'
          FROM generate_series(${startAt}::int, ${startAt + n - 1}::int) g, LATERAL (SELECT '+1201' || (2000000 + g)::text AS p) x`;
    }

    /** 150 contacts, a campaign enqueued for them at one segment a message, scheduled for `at`. */
    async function enqueuedAtOneSegment(credits: number) {
      const shop = await createShop(t.env.db, { credits });
      await disableQuietHours(t.env.db, shop.id);
      await createContactsBulk(t.env.db, shop.id, 150);
      const campaign = await createCampaign(t.env.db, shop.id, { scheduledAt: at, body: BODY });
      const enqueued = await enqueueCampaign(t.worker, { shopId: shop.id, campaignId: campaign.id, guard: UNGUARDED, traceId: `trace-${campaign.id}`, now: new Date(), responseStatus: 202 });
      expect(enqueued.result).toMatchObject({ recipients: 150, creditsReserved: 150, campaign: { status: 'scheduled' } });
      return { shopId: shop.id, campaignId: campaign.id, job: { campaignId: campaign.id, shopId: shop.id, traceId: `trace-${campaign.id}` } };
    }

    async function perMessage(campaignId: string): Promise<number> {
      const [c] = await t.env.db.$queryRaw<{ per: number }[]>`SELECT segments_per_message AS per FROM campaigns WHERE id = ${campaignId}::uuid`;
      return c!.per;
    }

    /** Sends batches `batchNos`; returns what their settles charged beside what the reservation gave. */
    async function sendAll(job: { campaignId: string; shopId: string; traceId: string }, batchNos: number[]) {
      let debited = 0;
      let fromReservation = 0;
      for (const b of batchNos) {
        const r = await send(job, b);
        expect(r).toMatchObject({ outcome: 'done' });
        if (r.outcome === 'done' && r.settle) {
          debited += r.settle.debited;
          fromReservation += r.settle.fromReservation;
          expect(r.settle.shortfall).toBe(0);
        }
      }
      return { debited, fromReservation };
    }

    it('subscribed or renamed before the launch: the launch raises the per-message bound and tops up for it, so no message is charged beyond the reservation', async () => {
      const { shopId, campaignId, job } = await enqueuedAtOneSegment(100_000);
      await subscribeNamed(shopId, 120, 150, LONG);
      await t.env.db.$executeRaw`UPDATE contacts SET first_name = ${LONG} WHERE shop_id = ${shopId}::uuid AND first_name = 'Friend7'`;

      expect(await launchCampaign(deps(), job)).toEqual({ outcome: 'launched', recipients: 270, batches: 3, completed: false });
      expect(await recipientCounts(t.env.db, campaignId)).toEqual({ pending: 270 });
      const per = await perMessage(campaignId);
      const held = (await reservation(campaignId)).amount;

      const settled = await sendAll(job, [0, 1, 2]);
      expect(t.sim.stats().messagesAccepted).toBe(270);
      // 149 one-segment messages, 121 of two segments: every credit charged came from the reservation.
      const r = await reservation(campaignId);
      expect({ charged: await charged(campaignId), fromReservation: r.consumed }).toEqual({ charged: 149 + 121 * 2, fromReservation: 149 + 121 * 2 });
      expect(settled).toEqual({ debited: 149 + 121 * 2, fromReservation: 149 + 121 * 2 });
      // The launch raised the bound to what the longest name needs and reserved it for every recipient.
      const [sent] = await t.env.db.$queryRaw<{ longest: number }[]>`
        SELECT max(segments)::int AS longest FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid AND status = 'sent'`;
      expect(sent!.longest).toBe(2);
      expect(per).toBeGreaterThanOrEqual(2);
      expect(held).toBe(270 * per);
      expect(r).toMatchObject({ status: 'closed', amount: r.consumed + r.released });
      const m = await moneyState(t.env.db, shopId);
      expect(m).toMatchObject({ reserved: 0, balance: 100_000 - r.consumed });
      expect(m.ledgerSum).toBe(m.balance);
    });

    it('when the raised bound cannot be paid for all, the contacts it cannot cover are skipped (insufficient_credits); a launch killed after a chunk that raised it and run again tops up once', async () => {
      // 150 reserved at enqueue, 300 more available: 150 recipients at three segments.
      const { shopId, campaignId, job } = await enqueuedAtOneSegment(450);
      await subscribeNamed(shopId, 120, 150, LONG);

      await expect(launchCampaign(deps({ afterChunk: (k) => { if (k === 0) throw new Error('SIGKILL'); } }), job)).rejects.toThrow('SIGKILL');
      const per = await perMessage(campaignId);
      expect(per).toBe(3);
      expect((await reservation(campaignId)).amount).toBe(100 * per);

      const runs = await Promise.all([launchCampaign(deps(), job), launchCampaign(deps(), job)]);
      for (const run of runs) expect(run).toMatchObject({ outcome: 'launched', recipients: 270, batches: 3 });
      expect(await recipientCounts(t.env.db, campaignId)).toEqual({ pending: 150, skipped: 120 });
      const [skipped] = await t.env.db.$queryRaw<{ n: bigint; coded: bigint }[]>`
        SELECT count(*) AS n, count(*) FILTER (WHERE error_code = 'insufficient_credits') AS coded
          FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id
         WHERE r.campaign_id = ${campaignId}::uuid AND r.status = 'skipped' AND c.first_name = ${LONG}`;
      expect(skipped).toEqual({ n: 120n, coded: 120n });
      expect((await reservation(campaignId)).amount).toBe(150 * per);
      const held = await moneyState(t.env.db, shopId);
      expect(held).toMatchObject({ reserved: 450, activeRemaining: 450, balance: 450 });

      const settled = await sendAll(job, [0, 1]);
      expect(settled).toEqual({ debited: 150, fromReservation: 150 });
      const r = await reservation(campaignId);
      expect(await charged(campaignId)).toBe(r.consumed);
      const m = await moneyState(t.env.db, shopId);
      expect(m).toMatchObject({ reserved: 0, balance: 300 });
      expect(m.ledgerSum).toBe(m.balance);
    });

    it('renamed after the launch materialised them: a message longer than its reservation is not sent (skipped, insufficient_credits), and nothing is charged beyond the reservation', async () => {
      const { shopId, campaignId, job } = await enqueuedAtOneSegment(100_000);
      expect(await launchCampaign(deps(), job)).toMatchObject({ outcome: 'launched', recipients: 150, batches: 2 });
      expect(await perMessage(campaignId)).toBe(1);
      await t.env.db.$executeRaw`UPDATE contacts SET first_name = ${LONG} WHERE shop_id = ${shopId}::uuid AND first_name = 'Friend7'`;

      const settled = await sendAll(job, [0, 1]);
      expect(settled).toEqual({ debited: 149, fromReservation: 149 });
      expect(t.sim.stats().messagesAccepted).toBe(149);
      expect(await recipientCounts(t.env.db, campaignId)).toEqual({ sent: 149, skipped: 1 });
      const [renamed] = await t.env.db.$queryRaw<{ status: string; error_code: string | null; segments: number | null }[]>`
        SELECT r.status, r.error_code, r.segments FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id
         WHERE r.campaign_id = ${campaignId}::uuid AND c.first_name = ${LONG}`;
      expect(renamed).toMatchObject({ status: 'skipped', error_code: 'insufficient_credits' });
      const r = await reservation(campaignId);
      expect(await charged(campaignId)).toBe(r.consumed);
      expect(await campaignStatus(t.env.db, campaignId)).toBe('completed');
      const m = await moneyState(t.env.db, shopId);
      expect(m).toMatchObject({ reserved: 0, balance: 100_000 - 149 });
      expect(m.ledgerSum).toBe(m.balance);
    });
  });
});
