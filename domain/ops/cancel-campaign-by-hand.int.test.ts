import { createCampaign, createContactsBulk, createShop } from '../../test/factories';
import { useSimulatedSends } from '../../test/harness';
import { campaignStatus, disableQuietHours, moneyState, queuedCampaign, recipientCounts } from '../../test/sending';
import { AppError } from '../../lib/errors';
import { launchCampaign } from '../campaigns/launch-campaign';
import { sendBatch, type SendBatchDeps } from '../campaigns/send-batch';
import { cancelCampaignByHand, type CancelByHandResult } from './cancel-campaign-by-hand';

// The on-call's cancel is the merchant's: the same stop mid-send, the same
// release, the same refusals; and it leaves a record of who and why.

const t = useSimulatedSends();

async function launched(contacts: number, batchSize: number) {
  const shop = await createShop(t.env.db, { credits: 10_000 });
  await disableQuietHours(t.env.db, shop.id);
  await createContactsBulk(t.env.db, shop.id, contacts);
  const campaign = await queuedCampaign(t.env.db, shop.id, { segmentsPerMessage: 2 });
  const job = { campaignId: campaign.id, shopId: shop.id, traceId: `trace-${campaign.id}` };
  expect(await launchCampaign({ db: t.env.db, producer: t.worker.producer, now: () => new Date(), batchSize }, job)).toMatchObject({ outcome: 'launched' });
  return { shopId: shop.id, campaignId: campaign.id, job, reserved: campaign.reserved };
}

const sendDeps = (o: Partial<SendBatchDeps> = {}): SendBatchDeps => ({
  db: t.env.db,
  provider: t.provider,
  now: () => new Date(),
  leaseMs: 60_000,
  phoneHashKey: t.env.config.PHONE_HASH_KEY,
  quietHoursFloor: t.env.config.SMS_QUIET_HOURS_FLOOR,
  ...o,
});

const byHand = (campaignId: string, reason = 'runaway campaign, ticket OPS-1') =>
  cancelCampaignByHand(t.env.db, { campaignId, reason, operator: 'alice', now: new Date(), logger: t.worker.logger });

async function expectBooksBalance(shopId: string): Promise<void> {
  const m = await moneyState(t.env.db, shopId);
  expect(m.ledgerSum).toBe(m.balance);
  expect(m.reserved).toBe(m.activeRemaining);
}

it('cancelled mid-send: the batch in flight settles, no further message is sent, the reservation is released but for what is in flight, then closes', async () => {
  const { shopId, campaignId, job, reserved } = await launched(30, 10);
  expect(reserved).toBe(60);
  expect(await sendBatch(sendDeps(), { ...job, batchNo: 0 })).toMatchObject({ outcome: 'done', settle: { sent: 10, debited: 10 } });

  let cancel: CancelByHandResult | undefined;
  const inFlight = await sendBatch(sendDeps({ afterProviderCall: async () => void (cancel = await byHand(campaignId)) }), { ...job, batchNo: 1 });
  // 60 reserved − 10 consumed by batch 0 − 10 in flight × 2 segments kept.
  expect(cancel).toEqual({ id: campaignId, shopId, outcome: 'cancelled', status: 'cancelled', released: 30, kept: 20 });
  expect(inFlight).toMatchObject({ outcome: 'done', settle: { sent: 10, debited: 10 }, campaignCompleted: false });

  expect(await sendBatch(sendDeps(), { ...job, batchNo: 2 })).toMatchObject({ outcome: 'done', claimed: 0 });
  expect(t.sim.stats().messagesAccepted).toBe(20);
  expect(await recipientCounts(t.env.db, campaignId)).toEqual({ sent: 20, cancelled: 10 });
  expect(await campaignStatus(t.env.db, campaignId)).toBe('cancelled');
  expect(await moneyState(t.env.db, shopId)).toMatchObject({ debited: 20, reserved: 0, activeRemaining: 0 });
  await expectBooksBalance(shopId);

  const line = t.env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'campaign cancelled by hand' && l.campaignId === campaignId);
  expect(line).toMatchObject({ level: 'warn', shopId, operator: 'alice', reason: 'runaway campaign, ticket OPS-1', outcome: 'cancelled', released: 30, kept: 20 });
});

it('a second call reports it already cancelled and changes nothing', async () => {
  const { shopId, campaignId, reserved } = await launched(5, 10);
  expect(await byHand(campaignId)).toMatchObject({ outcome: 'cancelled', released: reserved, kept: 0 });
  const before = await moneyState(t.env.db, shopId);
  expect(await byHand(campaignId, 'again')).toEqual({ id: campaignId, shopId, outcome: 'already_cancelled', status: 'cancelled', released: 0, kept: 0 });
  expect(await moneyState(t.env.db, shopId)).toEqual(before);
  expect(await recipientCounts(t.env.db, campaignId)).toEqual({ cancelled: 5 });
});

it('a draft is cancelled like the merchant cancels it; a completed or failed campaign is INVALID_STATE naming its status; an unknown one NOT_FOUND', async () => {
  const shop = await createShop(t.env.db);
  const draft = await createCampaign(t.env.db, shop.id);
  expect(await byHand(draft.id)).toMatchObject({ outcome: 'cancelled', status: 'cancelled', released: 0, kept: 0 });
  for (const status of ['completed', 'failed'] as const) {
    const c = await createCampaign(t.env.db, shop.id, { status });
    const err = await byHand(c.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'INVALID_STATE', details: { status } });
    expect(await campaignStatus(t.env.db, c.id)).toBe(status);
  }
  await expect(byHand('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

it('masks a phone number typed into the reason in its log line', async () => {
  const shop = await createShop(t.env.db);
  const c = await createCampaign(t.env.db, shop.id);
  await byHand(c.id, 'customer +1 415 555 0100 complained');
  const line = t.env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'campaign cancelled by hand' && l.campaignId === c.id);
  expect(line?.reason).toBe('customer [phone] complained');
});
