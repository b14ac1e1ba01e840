import type { Express } from 'express';
import { signSimulatorPayload } from '../../domain/messaging/providers/simulator-signature';
import { createCampaign, createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { postSimulator, rid } from '../webhooks';

// The attack: a batched delivery-report callback carries many reports under
// one signature. Someone who captured a signed body (or can make the
// provider sign one) adds a report of their own to it, flips one report's
// status, or moves a report into a body signed for other reports, hoping the
// api verifies the signature once and then trusts every report it reads.
// What stops it: the signature covers the raw body as a whole; any change to
// it is a 401 and nothing of the body is stored.
describe('attack: a report is smuggled into a signed batch of delivery reports', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(() => env.close());

  async function sentRecipient(): Promise<{ id: string; pmid: string }> {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const campaign = await createCampaign(env.db, shop.id, { status: 'sending' });
    const pmid = rid('msg');
    const [row] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at)
      VALUES (${campaign.id}::uuid, ${contact.id}::uuid, 0, 'sent', ${pmid}, 1::smallint, now()) RETURNING id`;
    return { id: String(row!.id), pmid };
  }

  /** Stored rows holding a report of these messages (a batch is one row for all its reports). */
  async function stored(pmids: string[]): Promise<number> {
    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM webhook_events w
       WHERE split_part(w.event_id, ':', 1) = ANY(${pmids}::text[])
          OR (w.topic = 'status-batch' AND EXISTS (SELECT 1 FROM jsonb_array_elements(w.payload->'reports') r WHERE r->>'id' = ANY(${pmids}::text[])))`;
    return Number(row!.n);
  }

  it('a report appended to a signed body, a flipped status or a reordered body is refused whole and stores nothing', async () => {
    const genuine = await sentRecipient();
    const victim = await sentRecipient();
    const secret = env.config.SMS_WEBHOOK_SECRET;
    const signedBody = JSON.stringify({ reports: [{ id: genuine.pmid, reference: `r${genuine.id}`, status: 'delivered' }] });
    const signature = signSimulatorPayload(secret, signedBody);

    const appended = JSON.stringify({
      reports: [
        { id: genuine.pmid, reference: `r${genuine.id}`, status: 'delivered' },
        { id: victim.pmid, reference: `r${victim.id}`, status: 'failed', errorCode: 'forged' },
      ],
    });
    const flipped = signedBody.replace('"delivered"', '"failed"');
    const padded = `${signedBody} `;
    for (const body of [appended, flipped, padded]) {
      const res = await postSimulator(app, 'status', body, { signature });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('INVALID_SIGNATURE');
    }
    expect(await stored([genuine.pmid, victim.pmid])).toBe(0);

    // The body as signed is accepted, and only what it says is stored.
    const ok = await postSimulator(app, 'status', signedBody, { signature });
    expect(ok.body).toEqual({ received: 1, duplicates: 0 });
    expect(await stored([genuine.pmid])).toBe(1);
    expect(await stored([victim.pmid])).toBe(0);
  });
});
