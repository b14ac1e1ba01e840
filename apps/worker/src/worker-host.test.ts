import { parseConfig } from '../../../lib/config';
import { optionsFor } from './worker-host';

describe('optionsFor', () => {
  it('runs SEND_BATCH_CONCURRENCY send batches at once, 6 by default', () => {
    expect(optionsFor('sends', { config: parseConfig({}) }).concurrency).toBe(6);
    expect(optionsFor('sends', { config: parseConfig({ SEND_BATCH_CONCURRENCY: '3' }) }).concurrency).toBe(3);
  });

  it('keeps the provider limiter on the sends queue only', () => {
    const config = parseConfig({ SMS_PROVIDER_MPS: '200' });
    expect(optionsFor('sends', { config }).limiter).toEqual({ max: 200, duration: 1_000 });
    expect(optionsFor('webhooks', { config }).limiter).toBeUndefined();
  });

  it('refuses a concurrency of 0 or past 64', () => {
    expect(() => parseConfig({ SEND_BATCH_CONCURRENCY: '0' })).toThrow(/SEND_BATCH_CONCURRENCY/);
    expect(() => parseConfig({ SEND_BATCH_CONCURRENCY: '65' })).toThrow(/SEND_BATCH_CONCURRENCY/);
  });
});
