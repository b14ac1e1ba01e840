import { messageSegments, withSegmentLimit } from './segment-limited';
import { ProviderRateLimitedError, ProviderUnavailableError, type OutboundMessage, type SendResult, type SmsProvider } from './provider';

const msg = (text: string, encoding: OutboundMessage['encoding'] = 'GSM-7', reference = 'r1'): OutboundMessage => ({ reference, to: '+12015550123', from: 'Shop', text, encoding });

/** A provider that records what reached it (the limiter must decide before it). */
function recordingProvider(): SmsProvider & { calls: OutboundMessage[][] } {
  const calls: OutboundMessage[][] = [];
  return {
    name: 'test',
    dedupsByReference: true,
    maxBatchSize: 1000,
    calls,
    async sendBatch(messages) {
      calls.push(messages);
      return messages.map((m): SendResult => ({ reference: m.reference, outcome: 'accepted', providerMessageId: `p-${m.reference}` }));
    },
  };
}

describe('withSegmentLimit', () => {
  it('counts segments as carriers do: a 2-segment message costs 2, a GSM text forced to UCS-2 costs its UCS-2 segments', () => {
    expect(messageSegments(msg('x'.repeat(160)))).toBe(1);
    expect(messageSegments(msg('x'.repeat(161)))).toBe(2);
    expect(messageSegments(msg('x'.repeat(100), 'UCS-2'))).toBe(2);
    expect(messageSegments(msg('😀'.repeat(10)))).toBe(1);
    // The sender's own count (it rendered the text) is taken as given.
    expect(messageSegments({ ...msg('x'.repeat(161)), segments: 2 })).toBe(2);
    expect(messageSegments({ ...msg('x'), segments: 3 })).toBe(3);
  });

  it('takes the whole batch’s segments before the one provider call', async () => {
    const asked: number[] = [];
    const provider = recordingProvider();
    const limited = withSegmentLimit(provider, { slotMs: 100, perSecond: 100, acquire: async (n) => (asked.push(n), true) }, { maxWaitMs: 1_000 });
    const results = await limited.sendBatch([msg('x'.repeat(200), 'GSM-7', 'r1'), msg('hi', 'GSM-7', 'r2'), msg('x'.repeat(400), 'GSM-7', 'r3')], { traceId: 't' });
    expect(asked).toEqual([2 + 1 + 3]);
    expect(provider.calls).toHaveLength(1);
    expect(results.map((r) => r.outcome)).toEqual(['accepted', 'accepted', 'accepted']);
  });

  it('a batch bigger than the wait allows at the full rate gets the time it needs (it would otherwise never go)', async () => {
    const deadlines: number[] = [];
    const limited = withSegmentLimit(recordingProvider(), { slotMs: 100, perSecond: 100, acquire: async (_n, o) => (deadlines.push(o.deadline - Date.now()), true) }, { maxWaitMs: 1_000 });
    await limited.sendBatch([msg('hi')], { traceId: 't' });
    // 400 segments at 100/s: 4 s at the full rate, 6 s allowed.
    await limited.sendBatch(Array.from({ length: 200 }, (_, i) => msg('x'.repeat(200), 'GSM-7', `r${i}`)), { traceId: 't' });
    expect(deadlines[0]).toBeLessThanOrEqual(1_000);
    expect(deadlines[1]).toBeGreaterThan(5_900);
    expect(deadlines[1]).toBeLessThanOrEqual(6_000);
  });

  it('sends nothing when the segments do not come in time (rate limited) or the limiter is unreachable (unavailable)', async () => {
    const provider = recordingProvider();
    const slow = withSegmentLimit(provider, { slotMs: 100, perSecond: 100, acquire: async () => false }, { maxWaitMs: 1 });
    await expect(slow.sendBatch([msg('hi')], { traceId: 't' })).rejects.toBeInstanceOf(ProviderRateLimitedError);
    const down = withSegmentLimit(provider, { slotMs: 100, perSecond: 100, acquire: async () => Promise.reject(new Error('Redis connection is not ready')) }, { maxWaitMs: 1 });
    await expect(down.sendBatch([msg('hi')], { traceId: 't' })).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(provider.calls).toEqual([]);
  });
});
