import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { createCampaign, createShop, grantCredits } from '../../test/factories';
import { debitCampaignSegments } from '../campaigns/debit-segments';
import { debitFlowMessages } from '../flows/debit-flow-messages';
import { applyWalletChange, type WalletChange } from './apply-wallet-change';
import { listWalletTransactions, type WalletTransactionView } from './list-wallet-transactions';
import { reserveCredits } from './reservations';

// The wallet history is listed in the order the changes took the wallet lock,
// which is the order of their effect on the balance; created_at (the writing
// transaction's start) is not, once two changes overlap.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A transaction that begins now (its created_at is fixed here) and applies
 * its change only when told to: it takes the wallet lock after anything
 * committed meanwhile.
 */
async function beganEarly(change: WalletChange): Promise<{ apply: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let began!: () => void;
  const begun = new Promise<void>((r) => (began = r));
  const done = env.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT now()`;
    began();
    await released;
    await applyWalletChange(tx, change);
  }, { timeout: 20_000 });
  await begun;
  // created_at is kept to the millisecond: later transactions must start in a later one.
  await sleep(15);
  return { apply: async () => { release(); await done; } };
}

async function listAll(shopId: string): Promise<WalletTransactionView[]> {
  return (await listWalletTransactions(env.db, shopId, { limit: 200 })).data;
}

/** Newest first, each row's balanceAfter is the one below it plus its amount. */
function expectChained(rows: WalletTransactionView[], startBalance = 0): void {
  const problems: string[] = [];
  rows.forEach((r, i) => {
    const below = rows[i + 1]?.balanceAfter ?? startBalance;
    if (r.balanceAfter !== below + r.amount) problems.push(`row ${i} (${r.amount}): balanceAfter ${r.balanceAfter}, expected ${below + r.amount}`);
  });
  expect(problems).toEqual([]);
}

async function seqs(shopId: string): Promise<{ rows: number[]; wallet: number }> {
  const rows = await env.db.$queryRaw<{ ledger_seq: bigint }[]>`SELECT ledger_seq FROM credit_transactions WHERE shop_id = ${shopId}::uuid ORDER BY ledger_seq`;
  const [w] = await env.db.$queryRaw<{ ledger_seq: bigint }[]>`SELECT ledger_seq FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
  return { rows: rows.map((r) => Number(r.ledger_seq)), wallet: Number(w!.ledger_seq) };
}

describe('wallet history order', () => {
  it('lists a change whose transaction began first but applied second above the one it followed', async () => {
    const shop = await createShop(env.db);
    const late = await beganEarly({ shopId: shop.id, type: 'grant', amount: 100, idempotencyKey: 'began-first', reference: 'late' });
    await grantCredits(env.db, shop.id, 200, 'began-second');
    await late.apply();

    const [lateRow] = await env.db.$queryRaw<{ before: boolean }[]>`
      SELECT (SELECT created_at FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND idempotency_key = 'began-first')
           < (SELECT created_at FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND idempotency_key = 'began-second') AS before`;
    expect(lateRow!.before).toBe(true);

    const rows = await listAll(shop.id);
    expect(rows.map((r) => ({ amount: r.amount, balanceAfter: r.balanceAfter }))).toEqual([
      { amount: 100, balanceAfter: 300 },
      { amount: 200, balanceAfter: 200 },
    ]);
    expectChained(rows);
  });

  it('lists the changes of one transaction (one created_at) in the order they were applied', async () => {
    const shop = await createShop(env.db);
    const amounts = [5, 11, -3, 17, 2, -7, 23, 1, 13, -4];
    await env.db.$transaction(async (tx) => {
      for (const [i, amount] of amounts.entries()) {
        await applyWalletChange(tx, { shopId: shop.id, type: amount > 0 ? 'grant' : 'debit', amount, idempotencyKey: `same-tx-${i}` });
      }
    });
    const rows = await listAll(shop.id);
    expect(rows.map((r) => r.amount)).toEqual([...amounts].reverse());
    expectChained(rows);
  });

  it('every writer of the ledger numbers its rows 1, 2, 3 … per shop and advances the wallet to the last', async () => {
    const shop = await createShop(env.db, { credits: 1000 });
    const other = await createShop(env.db, { credits: 50 });
    const campaign = await createCampaign(env.db, shop.id);
    await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: campaign.id, reservationKey: `campaign-${campaign.id}`, amount: 100 }));
    await env.db.$transaction((tx) => debitCampaignSegments(tx, { shopId: shop.id, campaignId: campaign.id, total: 40, key: 'debit-batch-1' }));
    const [flowA, flowB] = [randomUUID(), randomUUID()];
    await env.db.$transaction((tx) =>
      debitFlowMessages(tx, shop.id, 'claim-1', [
        { messageId: '1', flowId: flowA, segments: 2, traceId: null },
        { messageId: '2', flowId: flowB, segments: 3, traceId: null },
        { messageId: '3', flowId: flowA, segments: 1, traceId: null },
      ]),
    );
    await env.db.$transaction((tx) => applyWalletChange(tx, { shopId: shop.id, type: 'refund', amount: -10, idempotencyKey: 'refund-1' }));
    // A replayed key writes nothing and takes no number.
    await env.db.$transaction((tx) => applyWalletChange(tx, { shopId: shop.id, type: 'refund', amount: -10, idempotencyKey: 'refund-1' }));
    await env.db.$transaction((tx) => debitCampaignSegments(tx, { shopId: shop.id, campaignId: campaign.id, total: 5, key: 'debit-batch-2' }));

    expect(await seqs(shop.id)).toEqual({ rows: [1, 2, 3, 4, 5, 6], wallet: 6 });
    expect(await seqs(other.id)).toEqual({ rows: [1], wallet: 1 });
    const rows = await listAll(shop.id);
    expect(rows.map((r) => r.amount)).toEqual([-5, -10, -3, -3, -40, 1000]);
    expectChained(rows);
  });

  it('keeps the numbering gap-free and the history chained under concurrent changes from every writer', async () => {
    const shop = await createShop(env.db, { credits: 10_000 });
    const campaign = await createCampaign(env.db, shop.id);
    await env.db.$transaction((tx) => reserveCredits(tx, { shopId: shop.id, campaignId: campaign.id, reservationKey: `campaign-${campaign.id}`, amount: 1000 }));
    await Promise.all(
      Array.from({ length: 36 }, (_, i) =>
        env.db.$transaction(async (tx) => {
          if (i % 3 === 0) await applyWalletChange(tx, { shopId: shop.id, type: 'grant', amount: 7, idempotencyKey: `c-grant-${i}` });
          else if (i % 3 === 1) await debitCampaignSegments(tx, { shopId: shop.id, campaignId: campaign.id, total: 3, key: `c-debit-${i}` });
          else await debitFlowMessages(tx, shop.id, `c-claim-${i}`, [{ messageId: String(i), flowId: randomUUID(), segments: 2, traceId: null }, { messageId: String(i + 1000), flowId: randomUUID(), segments: 1, traceId: null }]);
        }),
      ),
    );
    const n = 1 + 12 + 12 + 24;
    expect(await seqs(shop.id)).toEqual({ rows: Array.from({ length: n }, (_, i) => i + 1), wallet: n });
    const rows = await listAll(shop.id);
    expectChained(rows);
    const [w] = await env.db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
    expect(rows[0]!.balanceAfter).toBe(Number(w!.balance));
  });
});
