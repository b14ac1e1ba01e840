import { jobIds } from '../../queue/job-ids';
import { createCampaign, createContact, createContactsBulk, createShop } from '../../test/factories';
import { flowRowCounts, seedFlowHistory } from '../../test/flow-history';
import { useTestEnv } from '../../test/harness';
import { waitFor } from '../../test/sending';
import { UNGUARDED } from '../idempotency/guard';
import { recordClicks } from '../links/record-clicks';
import { attributeOrder } from '../orders/attribute-order';
import { eraseShop } from '../privacy/erase-shop';
import { requestShopErasure } from '../privacy/request-shop-erasure';
import { deleteFlow } from './delete-flow';
import { eraseDeletedFlow, eraseDeletedFlowChunk } from './erase-deleted-flow';
import { FLOW_DELETION_STEPS } from './flow-deletion-steps';

// DELETE /api/flows/:id's history job: nothing of the flow survives it,
// nothing of another flow is touched, a job stopped anywhere completes when
// run again, and a job naming a flow that is not marked deleted does nothing.

const t = useTestEnv();

async function shopWithFlows(runs = 20): Promise<{ shopId: string; flowId: string; otherFlowId: string }> {
  const shop = await createShop(t.env.db);
  await createContactsBulk(t.env.db, shop.id, 7);
  const { flowId } = await seedFlowHistory(t.env.db, shop.id, { runs, clickEvery: 3, attributionEvery: 4 });
  const { flowId: otherFlowId } = await seedFlowHistory(t.env.db, shop.id, { runs: 5, clickEvery: 1, attributionEvery: 1 });
  return { shopId: shop.id, flowId, otherFlowId };
}

const markDeleted = (shopId: string, flowId: string): Promise<void> =>
  deleteFlow(t.env.db, t.deps.producer, { shopId, flowId, guard: UNGUARDED, traceId: 'test' });

it('removes the flow with its runs, messages, clicks, attributions and versions in chunks of 3, and no other flow\'s rows', async () => {
  const { shopId, flowId, otherFlowId } = await shopWithFlows();
  const elsewhere = await shopWithFlows(6);
  const before = await flowRowCounts(t.env.db, flowId);
  expect(before).toEqual({ flows: 1, flow_versions: 2, flow_runs: 20, flow_messages: 20, link_clicks: expect.any(Number), order_attributions: expect.any(Number) });
  expect(before.link_clicks).toBeGreaterThan(3);
  expect(before.order_attributions).toBeGreaterThan(3);
  const untouched = [otherFlowId, elsewhere.flowId, elsewhere.otherFlowId];
  const othersBefore = await Promise.all(untouched.map((id) => flowRowCounts(t.env.db, id)));

  await markDeleted(shopId, flowId);
  // The request deleted nothing: the mark alone.
  expect(await flowRowCounts(t.env.db, flowId)).toEqual(before);
  const result = await eraseDeletedFlow(t.deps, flowId, { chunkRows: 3, sliceMs: 600_000 });

  expect(result.outcome).toBe('erased');
  expect(result.rows).toEqual({ order_attributions: before.order_attributions, link_clicks: before.link_clicks, flow_messages: 20, flow_runs: 20, flows: 1 });
  // No chunk deletes more than 3 rows: 20 runs alone take 7 chunks.
  const perTable = [before.order_attributions!, before.link_clicks!, 20, 20].reduce((a, n) => a + Math.ceil(n / 3), 0);
  expect(result.chunks).toBeGreaterThanOrEqual(perTable + 1);
  expect(await flowRowCounts(t.env.db, flowId)).toEqual({});
  expect(await Promise.all(untouched.map((id) => flowRowCounts(t.env.db, id)))).toEqual(othersBefore);
  // The contacts the runs named stay: only the flow's history goes.
  const [contacts] = await t.env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM contacts WHERE shop_id = ${shopId}::uuid`;
  expect(contacts!.n).toBe(7);
});

it('touches no flow that is not marked deleted, live or paused, whatever id the job names', async () => {
  const { shopId, flowId } = await shopWithFlows(6);
  const { flowId: liveId } = await seedFlowHistory(t.env.db, shopId, { runs: 4, status: 'live' });
  for (const id of [flowId, liveId]) {
    const before = await flowRowCounts(t.env.db, id);
    expect(await eraseDeletedFlowChunk(t.env.db, id, { chunkRows: 3 })).toEqual({ kind: 'not_deleted' });
    expect(await eraseDeletedFlowChunk(t.env.db, id, { chunkRows: 3, from: FLOW_DELETION_STEPS.length })).toEqual({ kind: 'not_deleted' });
    expect((await eraseDeletedFlow(t.deps, id)).outcome).toBe('not_deleted');
    expect(await flowRowCounts(t.env.db, id)).toEqual(before);
  }
  const statuses = await t.env.db.$queryRaw<{ status: string }[]>`SELECT status FROM flows WHERE id = ANY(${[flowId, liveId]}::uuid[]) ORDER BY status`;
  expect(statuses.map((s) => s.status)).toEqual(['live', 'paused']);
});

it('a run whose slice runs out yields after one chunk at least, and the next runs go on until the flow is gone', async () => {
  const { shopId, flowId } = await shopWithFlows();
  await markDeleted(shopId, flowId);
  const outcomes: string[] = [];
  for (let run = 0; run < 1_000; run++) {
    const r = await eraseDeletedFlow(t.deps, flowId, { chunkRows: 5, sliceMs: 0 });
    expect(r.chunks).toBe(1);
    outcomes.push(r.outcome);
    if (r.outcome !== 'yielded') break;
  }
  expect(outcomes.at(-1)).toBe('erased');
  expect(outcomes.length).toBeGreaterThan(FLOW_DELETION_STEPS.length);
  expect(await flowRowCounts(t.env.db, flowId)).toEqual({});
});

it('a shop erasure removes a deleted flow whose job has not run, and that job then finds nothing to do', async () => {
  const { shopId, flowId, otherFlowId } = await shopWithFlows(8);
  await markDeleted(shopId, flowId);
  const [shop] = await t.env.db.$queryRaw<{ domain: string }[]>`SELECT domain FROM shops WHERE id = ${shopId}::uuid`;
  await t.env.db.$transaction((tx) => requestShopErasure(tx, { shopDomain: shop!.domain, traceId: 'test' }));
  expect((await eraseShop(t.deps, shopId, { chunkRows: 4 })).outcome).toBe('erased');
  expect(await flowRowCounts(t.env.db, flowId)).toEqual({});
  expect(await flowRowCounts(t.env.db, otherFlowId)).toEqual({});
  // Its outbox event names the shop, so the erasure took it too.
  const [events] = await t.env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = ${flowId}`;
  expect(events!.n).toBe(0);
  expect((await eraseDeletedFlow(t.deps, flowId)).outcome).toBe('not_deleted');
});

// Last: its worker stays up for the file and would run the other tests' queued jobs.
it('a deletion killed after some chunks completes when its job runs again', async () => {
  const { shopId, flowId, otherFlowId } = await shopWithFlows();
  const otherBefore = await flowRowCounts(t.env.db, otherFlowId);
  await markDeleted(shopId, flowId);
  // What a worker killed mid-run leaves: a few committed chunks of the first tables.
  let from = 0;
  for (let i = 0; i < 4; i++) {
    const r = await eraseDeletedFlowChunk(t.env.db, flowId, { chunkRows: 3, from });
    if (r.kind !== 'rows') throw new Error(`expected a chunk of rows, got ${r.kind}`);
    from = r.step;
  }
  const partial = await flowRowCounts(t.env.db, flowId);
  expect(partial).toMatchObject({ flows: 1, flow_versions: 2, flow_runs: 20, flow_messages: 20 });

  // The request's own job may already be queued under the same id; either way one job finishes it.
  const { deps } = await t.env.worker({ queues: ['maintenance'] });
  await deps.producer.add('flows.delete.v1', { traceId: 'retry', flowId }, { jobId: jobIds.flowDelete(flowId) });
  await waitFor('the job finished the deletion', async () => Object.keys(await flowRowCounts(t.env.db, flowId)).length === 0);
  expect(await flowRowCounts(t.env.db, otherFlowId)).toEqual(otherBefore);
  // Run again once done (a duplicate or a reconciliation re-add): nothing to do.
  expect((await eraseDeletedFlow(t.deps, flowId)).outcome).toBe('not_deleted');
});

it('a deleted flow, its history not yet erased, wins no order: the campaign in the window does, and keeps it once the history goes', async () => {
  const shop = await createShop(t.env.db);
  const contact = await createContact(t.env.db, shop.id);
  const campaign = await createCampaign(t.env.db, shop.id, { status: 'completed' });
  await t.env.db.$executeRaw`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
    VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'delivered', 'pm-1', 1, now() - interval '2 hours', now() - interval '2 hours')`;
  // The flow's one message was delivered to the same contact just now and clicked: newer than the campaign's on both counts.
  const { flowId } = await seedFlowHistory(t.env.db, shop.id, { runs: 1, clickEvery: 1, attributionEvery: 1_000_000_000 });
  const [message] = await t.env.db.$queryRaw<{ id: bigint; version_id: string }[]>`SELECT id, version_id FROM flow_messages WHERE flow_id = ${flowId}::uuid`;
  await deleteFlow(t.env.db, t.deps.producer, { shopId: shop.id, flowId, guard: UNGUARDED, traceId: 'test' });

  const order = async (id: string) => {
    await t.env.db.$executeRaw`
      INSERT INTO shopify_orders (shop_id, order_id, contact_id, total_minor, currency, ordered_at)
      VALUES (${shop.id}::uuid, ${id}, ${contact.id}::uuid, 5000, 'USD', now() + interval '1 minute')`;
    return t.env.db.$transaction((tx) => attributeOrder(tx, { shopId: shop.id, orderId: id, contactId: contact.id }));
  };
  // The flow's click (recorded before the delete) and its delivery are passed over: the campaign's delivery is the last that counts.
  expect(await order('o-1')).toMatchObject({ kind: 'view', campaignId: campaign.id, flowId: null });

  // A click on the deleted flow's link after the delete redirects (elsewhere) but is not recorded, so it attributes nothing either.
  const late = await recordClicks(t.env.db, [
    { id: '00000000-0000-4000-8000-00000000c11c', campaignId: null, recipientId: Number(message!.id), flow: { versionId: message!.version_id, step: 0 }, linkIndex: 0, clickedAt: new Date(), uaClass: 'ios', bot: false },
  ]);
  expect(late).toEqual({ human: 0, bot: 0, attributed: [] });

  await eraseDeletedFlow(t.deps, flowId);
  const rows = await t.env.db.$queryRaw<{ order_id: string; campaign_id: string | null; flow_id: string | null }[]>`
    SELECT order_id, campaign_id, flow_id FROM order_attributions WHERE shop_id = ${shop.id}::uuid ORDER BY order_id`;
  expect(rows).toEqual([{ order_id: 'o-1', campaign_id: campaign.id, flow_id: null }]);
});
