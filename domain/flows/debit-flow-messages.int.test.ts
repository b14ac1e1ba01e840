import { randomUUID } from 'node:crypto';
import { createShop, grantCredits } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { debitFlowMessages, flowClaimDebitKey, type FlowMessageCharge } from './debit-flow-messages';

// The batch debit of flow messages against a real Postgres: each message
// charged in order, never past the balance, one ledger row per flow of the
// claim, and a key used twice rolls the whole statement back instead of
// charging around it.

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

  /** A shop holding `credits`, two flows and a claim token; `debit` charges messages of that claim in a transaction of its own. */
  const scene = async (credits: number) => {
    const { id: shopId } = await createShop(t.env.db);
    await grantCredits(t.env.db, shopId, credits);
    const claim = randomUUID();
    const debit = (messages: FlowMessageCharge[]) => t.env.db.$transaction((tx) => debitFlowMessages(tx, shopId, claim, messages));
    return { shopId, flowA: randomUUID(), flowB: randomUUID(), claim, debit };
  };

  it('charges each message its segments in order, the last one what is left, in one ledger row per flow of the claim', async () => {
    const { shopId, flowA, flowB, claim, debit } = await scene(5);
    const charged = await debit([
      { messageId: '9001', flowId: flowA, segments: 2, traceId: 'trace-1' },
      { messageId: '9002', flowId: flowB, segments: 2, traceId: 'trace-2' },
      { messageId: '9003', flowId: flowA, segments: 2, traceId: 'trace-3' },
      { messageId: '9004', flowId: flowB, segments: 1, traceId: null },
    ]);
    expect([...charged]).toEqual([['9001', 2], ['9002', 2], ['9003', 1], ['9004', 0]]);
    expect(await wallet(shopId)).toBe(0);
    // Ordered by each flow's first message: A (2 + 1) then B (2), balances chained from the wallet.
    expect(await ledgerKeys(shopId)).toEqual([`${flowClaimDebitKey(claim, flowA)} -3 → 2`, `${flowClaimDebitKey(claim, flowB)} -2 → 0`]);
    const refs = await t.env.db.$queryRaw<{ reference: string; trace_id: string | null }[]>`
      SELECT reference, trace_id FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND type = 'debit' ORDER BY balance_after DESC`;
    expect(refs).toEqual([{ reference: `flow:${flowA}`, trace_id: 'trace-1' }, { reference: `flow:${flowB}`, trace_id: 'trace-2' }]);
  });

  it('writes no ledger row for a flow whose messages the wallet could not cover at all', async () => {
    const { shopId, flowA, flowB, claim, debit } = await scene(1);
    const charged = await debit([
      { messageId: '9201', flowId: flowA, segments: 1, traceId: null },
      { messageId: '9202', flowId: flowB, segments: 1, traceId: null },
    ]);
    expect([...charged]).toEqual([['9201', 1], ['9202', 0]]);
    expect(await ledgerKeys(shopId)).toEqual([`${flowClaimDebitKey(claim, flowA)} -1 → 0`]);
  });

  it('a claim key already charged throws and the statement charges nothing', async () => {
    const { shopId, flowA, flowB, claim, debit } = await scene(10);
    await debit([{ messageId: '9101', flowId: flowA, segments: 1, traceId: null }]);
    await expect(
      debit([
        { messageId: '9102', flowId: flowB, segments: 1, traceId: null },
        { messageId: '9103', flowId: flowA, segments: 1, traceId: null },
      ]),
    ).rejects.toThrow(`debit key ${flowClaimDebitKey(claim, flowA)} was already used`);
    expect(await wallet(shopId)).toBe(9);
    expect(await ledgerKeys(shopId)).toEqual([`${flowClaimDebitKey(claim, flowA)} -1 → 9`]);
  });
});
