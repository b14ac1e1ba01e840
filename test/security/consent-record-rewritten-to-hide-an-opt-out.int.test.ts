import { applyInboundKeyword } from '../../domain/compliance/apply-inbound-keyword';
import { phoneHmac, shopScope } from '../../domain/compliance/suppressions';
import { createContact } from '../../domain/contacts/create-contact';
import { phoneHash } from '../../domain/contacts/phone';
import { createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';

// The attack: a person texts STOP, the shop keeps texting them, and when the
// complaint comes the record is "corrected" (the opt-out rewritten to
// subscribed, or deleted) by whoever has the database: a buggy path, an
// operator's SQL, a compromised app connection. The consent record is proof
// only if it cannot be rewritten: Postgres refuses UPDATE, DELETE (directly
// or through a deleted contact) and TRUNCATE of contact_consent_records
// unless the transaction declares a GDPR erasure.

describe('a consent record rewritten to hide an opt-out', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  it('is refused by the database: the opt-out stays on record', async () => {
    const shop = await createShop(env.db);
    const phone = testPhone();
    const { contact } = await createContact(env.db, shop.id, { phoneE164: phone, phoneHash: phoneHash(phone), smsConsent: 'subscribed' });
    await env.db.$transaction((tx) =>
      applyInboundKeyword(tx, {
        keyword: 'STOP',
        fromHash: phoneHash(phone),
        fromHmac: phoneHmac(env.config.PHONE_HASH_KEY, phone),
        route: { kind: 'owned', shopId: shop.id, scope: shopScope(shop.id) },
        at: new Date(),
        message: { provider: 'simulator', id: 'in_attack', text: 'STOP' },
      }),
    );
    const history = async () =>
      env.db.$queryRaw<{ state: string; source: string }[]>`SELECT state, source FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid ORDER BY id`;
    const original = [
      { state: 'subscribed', source: 'api' },
      { state: 'unsubscribed', source: 'keyword' },
    ];
    expect(await history()).toEqual(original);

    await expect(env.db.$executeRaw`
      UPDATE contact_consent_records SET state = 'subscribed', source = 'api' WHERE contact_id = ${contact.id}::uuid AND source = 'keyword'`).rejects.toThrow(/append-only/);
    await expect(env.db.$executeRaw`
      DELETE FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid AND source = 'keyword'`).rejects.toThrow(/append-only/);
    // Deleting the contact would cascade to its record: refused as well.
    await expect(env.db.$executeRaw`DELETE FROM contacts WHERE id = ${contact.id}::uuid`).rejects.toThrow(/append-only/);
    await expect(env.db.$executeRaw`TRUNCATE contact_consent_records`).rejects.toThrow(/append-only/);
    // A session setting other than the erasure's own does not open the door.
    await expect(
      env.db.$transaction(async (tx) => {
        await tx.$executeRaw`SET LOCAL app.gdpr_erasure = 'yes'`;
        await tx.$executeRaw`DELETE FROM contact_consent_records WHERE contact_id = ${contact.id}::uuid`;
      }),
    ).rejects.toThrow(/append-only/);

    expect(await history()).toEqual(original);
    const [row] = await env.db.$queryRaw<{ sms_consent: string }[]>`SELECT sms_consent FROM contacts WHERE id = ${contact.id}::uuid`;
    expect(row!.sms_consent).toBe('unsubscribed');
  });
});
