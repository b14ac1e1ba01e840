import type { Db } from '../lib/db';

/**
 * A digest of every row of every table (public schema), to prove that a
 * request wrote nothing. `ignoreShopRowsOf` leaves out one shop's rows of a
 * table (e.g. the idempotency key a rejected request may record for itself).
 */
export async function tableFingerprints(db: Db, opts: { ignoreShopRowsOf?: Record<string, string> } = {}): Promise<Record<string, string>> {
  const tables = await db.$queryRaw<{ name: string }[]>`
    SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`;
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    if (!/^[a-z_]+$/.test(name)) throw new Error(`unexpected table name ${name}`);
    const ignoreShop = opts.ignoreShopRowsOf?.[name];
    const where = ignoreShop ? `WHERE t.shop_id IS DISTINCT FROM '${ignoreShop.replace(/[^0-9a-f-]/g, '')}'::uuid` : '';
    const [row] = await db.$queryRawUnsafe<{ digest: string }[]>(
      `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM "${name}" t ${where}`,
    );
    out[name] = row!.digest;
  }
  return out;
}
