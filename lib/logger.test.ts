import { Writable } from 'node:stream';
import { runWithContext, setContext } from './context';
import { createLogger, scrubText } from './logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString());
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', name: 'test' }, stream), lines, raw };
}

describe('logger', () => {
  it('adds requestId/traceId, shopId and jobId from the async context to every line', () => {
    const { logger, lines } = capture();
    runWithContext({ requestId: 'req-1', traceId: 'req-1' }, () => {
      setContext({ shopId: 'shop-1' });
      logger.info('hello');
      runWithContext({ jobId: 'job-9' }, () => logger.info('inner'));
    });
    logger.info('outside');
    expect(lines[0]).toMatchObject({ requestId: 'req-1', traceId: 'req-1', shopId: 'shop-1', msg: 'hello', level: 'info' });
    expect(lines[1]).toMatchObject({ requestId: 'req-1', shopId: 'shop-1', jobId: 'job-9' });
    expect(lines[2]?.requestId).toBeUndefined();
  });

  it('redacts PII, secrets and auth headers wherever the redaction list names them', () => {
    const { logger, raw } = capture();
    logger.info({
      phone: '+12015550123',
      contact: { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', phoneE164: '+12015550124' },
      message: { text: 'Hi Ada, 20% off' },
      req: { headers: { authorization: 'Bearer eyJsecret', cookie: 'sid=abc', 'stripe-signature': 't=1,v1=sig', 'x-shopify-hmac-sha256': 'hmacvalue' } },
      shop: { accessToken: 'shpat_secret', apiKey: 'key_secret' },
    }, 'contact updated');
    const text = raw.join('');
    for (const secret of ['+12015550123', 'ada@example.com', 'Ada', 'Lovelace', '+12015550124', 'Hi Ada', 'eyJsecret', 'sid=abc', 't=1,v1=sig', 'hmacvalue', 'shpat_secret', 'key_secret']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });

  it('masks phone numbers and emails inside free-text messages and errors', () => {
    const { logger, raw } = capture();
    logger.warn('provider rejected +1 (201) 555-0199 for ada@example.com');
    logger.error({ err: new Error('bad number +447700900123') }, 'send failed');
    const text = raw.join('');
    expect(text).not.toMatch(/555-0199|ada@example\.com|447700900123/);
    expect(scrubText('call +12015550123 now')).toBe('call [phone] now');
  });

  it('scrubs every string field of an error: Postgres detail and where, and nested causes', () => {
    const { logger, raw } = capture();
    const pgError = Object.assign(new Error('duplicate key value violates unique constraint "x"'), {
      code: '23505',
      detail: 'Key (phone_e164)=(+12015550177) already exists.',
      where: "SQL statement \"SELECT 1 / 0 WHERE '+12015550178' IS NOT NULL\"",
      hint: 'ada@example.com',
      cause: Object.assign(new Error('inner'), { detail: '+12015550179' }),
    });
    logger.error({ err: pgError }, 'request failed');
    const text = raw.join('');
    expect(text).not.toMatch(/55501(77|78|79)|ada@example\.com/);
    expect(JSON.parse(text).err).toMatchObject({ code: '23505', detail: 'Key (phone_e164)=([phone]) already exists.', hint: '[email]' });
  });
});
