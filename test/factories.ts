import { randomBytes } from 'node:crypto';
import type { Db } from '../lib/db';
import { phoneHash } from '../domain/contacts/phone';
import { stageImportRows, stageRow } from '../domain/contacts/import-rows';

// Per-test data factories: every call makes fresh, unique rows, so tests never
// depend on each other's data. Defaults are valid; pass overrides for the
// property under test.

let seq = 0;
const uniq = (): string => `${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(2).toString('hex')}`;

export { phoneHash };

export interface ShopFixture {
  id: string;
  domain: string;
}

/**
 * A shop sends as the shared default `Marketing` unless given a `senderId`,
 * which it then owns (as a PATCH would make it) unless `ownsSender: false`
 * (a sender several shops share).
 */
export async function createShop(
  db: Db,
  o: { domain?: string; status?: string; senderId?: string; ownsSender?: boolean; timezone?: string; optOutFooter?: boolean; credits?: number } = {},
): Promise<ShopFixture> {
  const domain = o.domain ?? `shop-${uniq()}.myshopify.com`;
  const senderId = o.senderId ?? 'Marketing';
  const owned = o.ownsSender ?? senderId !== 'Marketing';
  const [shop] = await db.$queryRaw<ShopFixture[]>`
    INSERT INTO shops (domain, status, sender_id, sender_owned, timezone, opt_out_footer)
    VALUES (${domain}, ${o.status ?? 'active'}, ${senderId}, ${owned}, ${o.timezone ?? 'UTC'}, ${o.optOutFooter ?? true})
    RETURNING id, domain`;
  await db.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${shop!.id}::uuid)`;
  if (o.credits) await grantCredits(db, shop!.id, o.credits);
  return shop!;
}

/** Adds credits through a ledger row, as a purchase would (wallet = Σ ledger holds). */
export async function grantCredits(db: Db, shopId: string, credits: number, key = `grant-${uniq()}`): Promise<void> {
  await db.$transaction(async (tx) => {
    const { applyWalletChange } = await import('../domain/credits/apply-wallet-change');
    await applyWalletChange(tx, { shopId, type: 'grant', amount: credits, idempotencyKey: key, reference: 'test' });
  });
}

let phoneSeq = 0;
/** A valid, unique US number in E.164 (+1 201 2xx-xxxx … 9xx-xxxx). */
export function testPhone(): string {
  phoneSeq++;
  // Exchange digits 2–9 first so libphonenumber accepts the NANP number. Area
  // code 973 (New Jersey, New York time like 201) is used by no bulk factory
  // or fixture: under 201 this range met createContactsBulk's numbers about
  // once in 8 000 calls (a duplicate-phone failure in a shop seeded in bulk).
  const n = 2_000_000 + (((Date.now() % 100_000) * 1000 + phoneSeq) % 8_000_000);
  return `+1973${n}`;
}

export interface ContactFixture {
  id: string;
  phone: string;
}

export async function createContact(
  db: Db,
  shopId: string,
  o: { phone?: string; firstName?: string | null; lastName?: string | null; email?: string | null; consent?: string; tags?: string[]; optedOut?: boolean } = {},
): Promise<ContactFixture> {
  const phone = o.phone ?? testPhone();
  const [c] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, tags, opted_out_at, opt_out_source)
    VALUES (${shopId}::uuid, ${phone}, ${phoneHash(phone)}, ${o.email ?? null}, ${o.firstName === undefined ? 'Ada' : o.firstName}, ${o.lastName === undefined ? 'Lovelace' : o.lastName},
            ${o.consent ?? 'subscribed'}, ${o.tags ?? []}::text[], ${o.optedOut ? new Date() : null}, ${o.optedOut ? 'keyword' : null})
    RETURNING id`;
  return { id: c!.id, phone };
}

/** Many subscribed contacts in one set-based statement (benchmarks, big campaigns). */
export async function createContactsBulk(db: Db, shopId: string, count: number, o: { tags?: string[]; startAt?: number } = {}): Promise<void> {
  const start = o.startAt ?? 0;
  await db.$executeRaw`
    INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent, tags)
    SELECT ${shopId}::uuid, p, encode(sha256(p::bytea), 'hex'), 'Friend' || g, 'Tester', 'subscribed', ${o.tags ?? []}::text[]
      FROM generate_series(${start}::int, ${start + count - 1}::int) g, LATERAL (SELECT '+1201' || (2000000 + g)::text AS p) x
    ON CONFLICT DO NOTHING`;
}

export interface CampaignFixture {
  id: string;
}

export async function createCampaign(
  db: Db,
  shopId: string,
  o: { name?: string; body?: string; status?: string; audience?: Record<string, unknown>; scheduledAt?: Date | null } = {},
): Promise<CampaignFixture> {
  const [c] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO campaigns (shop_id, name, body, audience, status, scheduled_at)
    VALUES (${shopId}::uuid, ${o.name ?? `Campaign ${uniq()}`}, ${o.body ?? 'Hi {{firstName|there}}, 20% off today at {{shopName}}!'},
            ${JSON.stringify(o.audience ?? {})}::jsonb, ${o.status ?? 'draft'}, ${o.scheduledAt ?? null})
    RETURNING id`;
  return { id: c!.id };
}

export interface ContactImportFixture {
  id: string;
}

/**
 * A queued contact import with its rows staged (as POST /api/contacts/import
 * stores it, without the job), or one already `completed` (nothing staged; a
 * shop may have any number of those, but one in flight).
 */
export async function createContactImport(
  db: Db,
  shopId: string,
  o: { rows?: unknown[]; defaultCountry?: string | null; status?: 'queued' | 'completed' } = {},
): Promise<ContactImportFixture> {
  const rows = o.rows ?? [{ phone: testPhone(), firstName: 'Grace' }];
  if (o.status === 'completed') {
    const [done] = await db.$queryRaw<{ id: string }[]>`
      INSERT INTO contact_imports (shop_id, status, total, processed, created, completed_at)
      VALUES (${shopId}::uuid, 'completed', ${rows.length}, ${rows.length}, ${rows.length}, now())
      RETURNING id`;
    return { id: done!.id };
  }
  return db.$transaction(async (tx) => {
    const [imp] = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO contact_imports (shop_id, total, default_country)
      VALUES (${shopId}::uuid, ${rows.length}, ${o.defaultCountry ?? null})
      RETURNING id`;
    await stageImportRows(tx, imp!.id, rows.map(stageRow));
    return { id: imp!.id };
  }, { timeout: 30_000 });
}
