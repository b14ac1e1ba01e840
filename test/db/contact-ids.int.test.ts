import { createContact, createShop } from '../factories';
import { useTestEnv } from '../harness';

// Contact ids are UUID version 7 (20261208100300_contact_ids_time_ordered):
// the creation time in the first 48 bits, so contacts created one after
// another sort by id in the order they were stored, which is what lets a
// campaign's batches (contact-id order) read the contacts heap page by page.

describe('contact ids', () => {
  const t = useTestEnv();

  it('are version 7, carry the creation millisecond, and sort in creation order', async () => {
    const shop = await createShop(t.env.db);
    const before = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await createContact(t.env.db, shop.id)).id);
      // Ids made within one millisecond are ordered only by their random bits.
      await new Promise((r) => setTimeout(r, 3));
    }
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before - 1_000);
      expect(ms).toBeLessThanOrEqual(after + 1_000);
    }
    expect([...ids].sort()).toEqual(ids);
  });

  it('are unique across a bulk insert of 10 000 in one statement', async () => {
    const shop = await createShop(t.env.db);
    const [row] = await t.env.db.$queryRaw<{ n: number; distinct_ids: number }[]>`
      WITH ins AS (
        INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent)
        SELECT ${shop.id}::uuid, '+4474' || lpad(g::text, 8, '0'), md5(${shop.id} || g::text), 'subscribed'
          FROM generate_series(1, 10000) g
        RETURNING id)
      SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct_ids FROM ins`;
    expect(row).toEqual({ n: 10_000, distinct_ids: 10_000 });
  });
});
