import type { Express } from 'express';
import { phoneHash } from '../../domain/contacts/phone';
import { createContact, createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { postSimulator, rid } from '../webhooks';

// The attack (or just a phone keyboard): a STOP that a person sees as STOP but
// whose characters are not ASCII "STOP" — full-width letters (an East Asian
// keyboard), a zero-width space or joiner pasted in, an emoji or quotes around
// it, Cyrillic or Greek letters drawn like Latin ones ("ЅТОР", "SΤΟΡ"). Read
// as an ordinary reply, the person keeps getting texts after saying stop. Now every keyword is read as a person sees it (NFKC, invisible
// characters dropped, decoration and look-alike letters of an opt-out folded).

describe('a STOP in full-width, decorated or look-alike form', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  it('opts the number out like a plain STOP', async () => {
    const sender = `S${rid('x').slice(2, 10)}`;
    const shop = await createShop(env.db, { senderId: sender });
    for (const text of ['ＳＴＯＰ', 'S\u200bTOP', '\u2060Stop\u200d', 'STOP 🙏', '«stop»', 'ｕｎｓｕｂｓｃｒｉｂｅ', '\u0405\u0422\u041E\u0420', 'S\u03A4\u039F\u03A1']) {
      const phone = testPhone();
      await createContact(env.db, shop.id, { phone });
      expect((await postSimulator(app, 'inbound', { id: rid('in'), from: phone, to: sender, text, timestamp: new Date().toISOString() })).body).toEqual({ received: true });
      const [row] = await env.db.$queryRaw<{ sms_consent: string; opt_out_source: string | null }[]>`
        SELECT sms_consent, opt_out_source FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_hash = ${phoneHash(phone)}`;
      expect([text, row]).toEqual([text, { sms_consent: 'unsubscribed', opt_out_source: 'keyword' }]);
    }
  });
});
