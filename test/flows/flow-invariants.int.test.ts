import { randomUUID } from 'node:crypto';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { CHECK, UNIQUE, FOREIGN_KEY, REFUSED, rejectedWith } from '../pg-rejections';

// The flow tables' invariants, enforced by Postgres whatever the code does
// (migration 20261205800000_flows, docs/flows.md).

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});


async function flowWithVersion(shopId: string, trigger = 'contact_subscribed'): Promise<{ flowId: string; versionId: string }> {
  const [flow] = await env.db.$queryRaw<{ id: string }[]>`INSERT INTO flows (shop_id, name, trigger_type) VALUES (${shopId}::uuid, 'F', ${trigger}) RETURNING id`;
  const [version] = await env.db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${flow!.id}::uuid, ${shopId}::uuid, 1, '[{"type":"send","body":"Hi"}]') RETURNING id`;
  await env.db.$executeRaw`UPDATE flows SET current_version_id = ${version!.id}::uuid WHERE id = ${flow!.id}::uuid`;
  return { flowId: flow!.id, versionId: version!.id };
}

function insertRun(r: { flowId: string; versionId: string; shopId: string; contactId: string; trigger?: string; subject?: string; status?: string; due?: Date | null; exitReason?: string | null }) {
  const status = r.status ?? 'active';
  return env.db.$executeRaw`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, exit_reason, next_due_at, ended_at)
    VALUES (${r.flowId}::uuid, ${r.versionId}::uuid, ${r.shopId}::uuid, ${r.contactId}::uuid, ${r.trigger ?? 'manual'}, ${r.subject ?? randomUUID()}, now(),
            ${status}, ${r.exitReason ?? null}, ${r.due === undefined ? new Date() : r.due}, ${status === 'active' ? null : new Date()})`;
}

describe('flow_runs', () => {
  it('rejects a second run for the same flow, contact and trigger subject', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const f = await flowWithVersion(shop.id);
    await insertRun({ ...f, shopId: shop.id, contactId: contact.id, trigger: 'order_created', subject: 'order-1' });
    await rejectedWith(UNIQUE, () => insertRun({ ...f, shopId: shop.id, contactId: contact.id, trigger: 'order_created', subject: 'order-1' }));
    await insertRun({ ...f, shopId: shop.id, contactId: contact.id, trigger: 'order_created', subject: 'order-2' });
  });

  it('rejects a second "contact subscribed" run of a contact in one flow, whatever its subject; another flow may have one', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const f = await flowWithVersion(shop.id);
    const g = await flowWithVersion(shop.id);
    await insertRun({ ...f, shopId: shop.id, contactId: contact.id, trigger: 'contact_subscribed', subject: '1' });
    await rejectedWith(UNIQUE, () => insertRun({ ...f, shopId: shop.id, contactId: contact.id, trigger: 'contact_subscribed', subject: '2' }));
    await insertRun({ ...g, shopId: shop.id, contactId: contact.id, trigger: 'contact_subscribed', subject: '2' });
  });

  it("rejects a run on another flow's version, or under another shop than its flow's", async () => {
    const shop = await createShop(env.db);
    const other = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const f = await flowWithVersion(shop.id);
    const g = await flowWithVersion(shop.id);
    await rejectedWith(FOREIGN_KEY, () => insertRun({ flowId: f.flowId, versionId: g.versionId, shopId: shop.id, contactId: contact.id }));
    await rejectedWith(FOREIGN_KEY, () => insertRun({ ...f, shopId: other.id, contactId: contact.id }));
  });

  it('rejects an active run without a due time, an exit without a reason, a reason without an exit, a claim without a lease', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const f = await flowWithVersion(shop.id);
    const base = { ...f, shopId: shop.id, contactId: contact.id };
    await rejectedWith(CHECK, () => insertRun({ ...base, due: null }));
    await rejectedWith(CHECK, () => insertRun({ ...base, status: 'exited', due: null }));
    await rejectedWith(CHECK, () => insertRun({ ...base, status: 'completed', due: null, exitReason: 'order_placed' }));
    await rejectedWith(CHECK, () => insertRun({ ...base, status: 'exited', due: null, exitReason: 'because' }));
    await insertRun({ ...base, status: 'exited', due: null, exitReason: 'order_placed' });
    await insertRun({ ...base, subject: 'claimed' });
    await rejectedWith(CHECK, () => env.db.$executeRaw`UPDATE flow_runs SET claim_token = gen_random_uuid() WHERE trigger_subject = 'claimed'`);
  });
});

describe('flows and flow_versions', () => {
  it('refuses any update of a version, and a second version with the same number', async () => {
    const shop = await createShop(env.db);
    const f = await flowWithVersion(shop.id);
    await rejectedWith(REFUSED, () => env.db.$executeRaw`UPDATE flow_versions SET steps = '[]' WHERE id = ${f.versionId}::uuid`);
    await rejectedWith(UNIQUE, () => env.db.$executeRaw`
      INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${f.flowId}::uuid, ${shop.id}::uuid, 1, '[]')`);
  });

  it("rejects a live flow without a version, a current version of another flow, and more than 20 steps", async () => {
    const shop = await createShop(env.db);
    const f = await flowWithVersion(shop.id);
    const g = await flowWithVersion(shop.id);
    await rejectedWith(CHECK, () => env.db.$executeRaw`INSERT INTO flows (shop_id, name, trigger_type, status) VALUES (${shop.id}::uuid, 'L', 'order_created', 'live')`);
    await rejectedWith(FOREIGN_KEY, () => env.db.$executeRaw`UPDATE flows SET current_version_id = ${g.versionId}::uuid WHERE id = ${f.flowId}::uuid`);
    const steps = JSON.stringify(Array.from({ length: 21 }, () => ({ type: 'send', body: 'x' })));
    await rejectedWith(CHECK, () => env.db.$executeRaw`
      INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${f.flowId}::uuid, ${shop.id}::uuid, 2, ${steps}::jsonb)`);
  });

  it('a version a run uses cannot be deleted; deleting the flow takes its versions and runs', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const f = await flowWithVersion(shop.id);
    await insertRun({ ...f, shopId: shop.id, contactId: contact.id });
    await env.db.$executeRaw`UPDATE flows SET current_version_id = NULL WHERE id = ${f.flowId}::uuid`;
    await rejectedWith(FOREIGN_KEY, () => env.db.$executeRaw`DELETE FROM flow_versions WHERE id = ${f.versionId}::uuid`);
    await env.db.$executeRaw`DELETE FROM flows WHERE id = ${f.flowId}::uuid`;
    const [left] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT ((SELECT count(*) FROM flow_versions WHERE flow_id = ${f.flowId}::uuid) + (SELECT count(*) FROM flow_runs WHERE flow_id = ${f.flowId}::uuid))::int AS n`;
    expect(left!.n).toBe(0);
  });
});
