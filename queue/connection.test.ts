import { queuePrefix } from './connection';
import { ALL_QUEUES } from './names';

describe('queue prefixes', () => {
  it('put each queue under its own hash tag made of QUEUE_PREFIX and the queue name', () => {
    expect(queuePrefix('{sms}', 'sends')).toBe('{sms:sends}');
    expect(queuePrefix('bull', 'imports')).toBe('{bull:imports}');
    // The whole tag is the queue's: a brace in the base cannot cut it short.
    expect(queuePrefix('{a}b{c}', 'webhooks')).toBe('{abc:webhooks}');
    const tags = ALL_QUEUES.map((q) => queuePrefix('{sms}', q));
    expect(new Set(tags).size).toBe(ALL_QUEUES.length);
    for (const t of tags) expect(t).toMatch(/^\{[^{}]+\}$/);
  });
});
