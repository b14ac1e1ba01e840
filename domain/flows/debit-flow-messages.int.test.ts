import { randomUUID } from 'node:crypto';
import { createShop, grantCredits } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { debitFlowMessages } from './debit-flow-messages';

// The batch debit of flow messages against a real Postgres: one ledger row
// per message, in order, never past the balance, and a key used twice rolls
// the whole statement back instead of charging around it.

describe('debitFlowMessages', () => {
  const t = useTestEnv();

  const wallet = async (shopId: string): Promise<number> => {
    const [w] = await t.env.db.$queryRaw<{ balance: number }[]>`SELECT balance::int AS balance FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
    return w!.balance;
  };
  /** Debit rows as `<key> <amount> → <balance after>`, in the order they were charged. */
  const ledgerKeys = async (shopId: string): Promise<string[]> =>
    (
      await t.env.db.$queryRaw<{ k: string; amount: number; after: number }[]>`
        SELECT idempotency_key AS k, amount::int, balance_after::int AS after FROM credit_transactions
         WHERE shop_id = ${shopId}::uuid AND type = 'debit' ORDER BY balance_after DESC, idempotency_key`
    ).map((r) => `${r.k} ${r.amount} → ${r.after}`);

  it('charges each message its segments in order, the last one what is left, and writes one ledger row each', async () => {
    const shop = await createShop(t.env.db);
    await grantCredits(t.env.db, shop.id, 5);
    const flowId = randomUUID();
    const charged = await t.env.db.$transaction((tx) =>
      debitFlowMessages(tx, shop.id, [
        { messageId: '9001', flowId, segments: 2, traceId: null },
        { messageId: '9002', flowId, segments: 2, traceId: null },
        { messageId: '9003', flowId, segments: 2, traceId: null },
        { messageId: '9004', flowId, segments: 1, traceId: null },
      ]),
    );
    expect([...charged]).toEqual([['9001', 2], ['9002', 2], ['9003', 1], ['9004', 0]]);
    expect(await wallet(shop.id)).toBe(0);
    expect(await ledgerKeys(shop.id)).toEqual(['flow-msg-9001 -2 → 3', 'flow-msg-9002 -2 → 1', 'flow-msg-9003 -1 → 0']);
  });

  it('a message key already charged throws and the statement charges nothing', async () => {
    const shop = await createShop(t.env.db);
    await grantCredits(t.env.db, shop.id, 10);
    const flowId = randomUUID();
    await t.env.db.$transaction((tx) => debitFlowMessages(tx, shop.id, [{ messageId: '9101', flowId, segments: 1, traceId: null }]));
    await expect(
      t.env.db.$transaction((tx) =>
        debitFlowMessages(tx, shop.id, [
          { messageId: '9102', flowId, segments: 1, traceId: null },
          { messageId: '9101', flowId, segments: 1, traceId: null },
        ]),
      ),
    ).rejects.toThrow('debit key flow-msg-9101 was already used');
    expect(await wallet(shop.id)).toBe(9);
    expect(await ledgerKeys(shop.id)).toEqual(['flow-msg-9101 -1 → 9']);
  });
});
