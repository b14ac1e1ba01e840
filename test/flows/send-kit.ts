import type { FlowSendDeps } from '../../domain/flows/send-flow-message';
import type { OutboundMessage, SmsProvider } from '../../domain/messaging/providers/provider';
import type { Db } from '../../lib/db';
import { createShop, type ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { simulatorProvider } from '../sending';

// What the flow send tests share: a provider that records what went out, the
// send deps against the simulator, and a shop whose rules never hold a text.

/** `inner`, with every message it is asked to send pushed to `sent` first (the flow tests read what went out). */
export function recordingProvider(inner: SmsProvider, sent: OutboundMessage[]): SmsProvider {
  return {
    name: inner.name,
    dedupsByReference: inner.dedupsByReference,
    maxBatchSize: inner.maxBatchSize,
    sendBatch: (messages, ctx) => {
      sent.push(...messages);
      return inner.sendBatch(messages, ctx);
    },
  };
}

/** Flow send deps against the simulator at `simUrl` (a provider that does not dedup), recording into `sent`; no US/CA floor. */
export function recordedSendDeps(env: TestEnv, simUrl: string, sent: OutboundMessage[]): FlowSendDeps {
  return {
    provider: recordingProvider(simulatorProvider(simUrl, { dedupsByReference: false }), sent),
    phoneHashKey: env.config.PHONE_HASH_KEY,
    leaseMs: 60_000,
    quietHoursFloor: false,
  };
}

/** The first line of every text that went to `phone` (the opt-out footer left off). */
export const textsTo = (sent: OutboundMessage[], phone: string): (string | undefined)[] => sent.filter((m) => m.to === phone).map((m) => m.text.split('\n')[0]);

/** A shop with credits, named Acme, without quiet hours or smart sending: nothing it sends waits or is skipped. */
export async function openShop(db: Db): Promise<ShopFixture> {
  const shop = await createShop(db, { credits: 1_000 });
  await db.$executeRaw`
    UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = false, name = 'Acme' WHERE id = ${shop.id}::uuid`;
  return shop;
}
