import type { OutboundMessage, SmsProvider } from '../../domain/messaging/providers/provider';

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
