import { createContact as createContactRow, createShop, testPhone } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { tableFingerprints } from '../../test/table-fingerprints';
import { contactCreateSchema, contactPatchSchema } from '../contacts/contact-input';
import { createContact } from '../contacts/create-contact';
import { eraseContact } from '../contacts/erase-contact';
import { updateContact } from '../contacts/update-contact';
import { updateKeywordReplySettings } from '../shops/keyword-reply-settings';
import { updateShopSettings } from '../shops/update-shop-settings';
import { fencedGuard, type IdempotencyGuard } from './guard';

// api.md: a keyed request's write commits only while the request still holds
// its key (the fencing token is checked in the write's transaction). The five
// writes that took an optional key without checking it: a request that stalled
// past its lease, whose retry has since taken the key over (and completed),
// could still land, after a later change of the same contact or setting.

const t = useTestEnv();

async function heldKey(shopId: string, key: string): Promise<{ id: string; fence: number }> {
  const [row] = await t.env.db.$queryRaw<{ id: string; fence: number }[]>`
    INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, locked_until, expires_at)
    VALUES (${shopId}::uuid, 'PATCH', '/api/test', ${key}, 'f', now() + interval '1 minute', now() + interval '1 day')
    RETURNING id::text, fence`;
  return row!;
}

/** A guard of a request whose key a retry has taken over since (the fence moved on). */
async function staleGuard(shopId: string, key: string): Promise<IdempotencyGuard> {
  const held = await heldKey(shopId, key);
  await t.env.db.$executeRaw`UPDATE idempotency_keys SET fence = fence + 1 WHERE id = ${held.id}::uuid`;
  return fencedGuard(held, { leaseMs: 60_000, completedTtlMs: 86_400_000 });
}

it('each keyed contact and settings write is refused (409 REQUEST_IN_PROGRESS, nothing written) once its key was taken over, and goes through while held', async () => {
  const shop = await createShop(t.env.db);
  const contact = await createContactRow(t.env.db, shop.id, { firstName: 'Before' });
  const writes: [string, (guard: IdempotencyGuard) => Promise<unknown>][] = [
    ['POST /api/contacts', (g) => createContact(t.env.db, shop.id, contactCreateSchema().parse({ phone: testPhone(), smsConsent: 'subscribed' }), g)],
    ['PATCH /api/contacts/:id', (g) => updateContact(t.env.db, shop.id, contact.id, contactPatchSchema.parse({ firstName: 'Late' }), g)],
    ['DELETE /api/contacts/:id', (g) => eraseContact(t.env.db, shop.id, contact.id, g)],
    ['PATCH /api/shop', (g) => updateShopSettings(t.env.db, shop.id, { timezone: 'Europe/Paris' }, { defaultSender: 'SMSAPP', guard: g, now: new Date() })],
    ['PATCH /api/shop/keyword-replies', (g) => updateKeywordReplySettings(t.env.db, shop.id, { help: 'Help from {{shopName}}: reply STOP to opt out.' }, g)],
  ];
  for (const [route, write] of writes) {
    const guard = await staleGuard(shop.id, `stale ${route}`);
    const before = await tableFingerprints(t.env.db);
    const refused = await write(guard).then(
      () => null,
      (err: { code?: string }) => err.code,
    );
    expect([route, refused]).toEqual([route, 'REQUEST_IN_PROGRESS']);
    expect(await tableFingerprints(t.env.db)).toEqual(before);
  }
  // The same writes by a request that still holds its key.
  for (const [route, write] of writes) {
    const held = await heldKey(shop.id, `held ${route}`);
    await expect(write(fencedGuard(held, { leaseMs: 60_000, completedTtlMs: 86_400_000 }))).resolves.not.toThrow();
  }
  const [row] = await t.env.db.$queryRaw<{ timezone: string; erased: boolean }[]>`
    SELECT s.timezone, c.erased_at IS NOT NULL AS erased FROM shops s JOIN contacts c ON c.shop_id = s.id WHERE s.id = ${shop.id}::uuid AND c.id = ${contact.id}::uuid`;
  expect(row).toEqual({ timezone: 'Europe/Paris', erased: true });
});
