import { createShop } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { shopLookup } from './shop-cache';

const t = useTestEnv();

describe('shopLookup', () => {
  it('reuses a row for its ttl, then reads it again (an uninstall is seen once the ttl ran out)', async () => {
    let clock = 1_000_000;
    const lookup = shopLookup(t.env.db, { defaultSender: 'Shop', ttlMs: 1_000, now: () => clock });
    const shop = await createShop(t.env.db);
    expect(await lookup(shop.domain)).toMatchObject({ id: shop.id, status: 'active' });
    await t.env.db.$executeRaw`UPDATE shops SET status = 'uninstalled', uninstalled_at = now() WHERE id = ${shop.id}::uuid`;
    clock += 999;
    expect((await lookup(shop.domain)).status).toBe('active');
    clock += 1;
    expect((await lookup(shop.domain)).status).toBe('uninstalled');
  });

  it('with ttl 0 reads every time', async () => {
    const lookup = shopLookup(t.env.db, { defaultSender: 'Shop', ttlMs: 0 });
    const shop = await createShop(t.env.db);
    expect((await lookup(shop.domain)).status).toBe('active');
    await t.env.db.$executeRaw`UPDATE shops SET status = 'uninstalled', uninstalled_at = now() WHERE id = ${shop.id}::uuid`;
    expect((await lookup(shop.domain)).status).toBe('uninstalled');
  });

  it('provisions a shop seen for the first time, once, and keeps at most `max` rows', async () => {
    const lookup = shopLookup(t.env.db, { defaultSender: 'Shop', ttlMs: 60_000, max: 2 });
    const domain = `fresh-${Date.now()}.myshopify.com`;
    const [a, b] = await Promise.all([lookup(domain), lookup(domain)]);
    expect(a.id).toBe(b.id);
    const [count] = await t.env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM shops WHERE domain = ${domain}`;
    expect(Number(count!.n)).toBe(1);
    // Three shops through a memory of two: the first is read again (and is still right).
    const others = [await createShop(t.env.db), await createShop(t.env.db)];
    for (const s of others) await lookup(s.domain);
    await t.env.db.$executeRaw`UPDATE shops SET status = 'uninstalled', uninstalled_at = now() WHERE domain = ${domain}`;
    expect((await lookup(domain)).status).toBe('uninstalled');
  });
});
