import pino, { type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { getContext } from './context';

// PII and secrets never reach a log line: these paths are censored wherever
// they appear (design.md, "Logs"). The test in logger.test.ts proves it.
export const REDACT_PATHS = [
  'phone', '*.phone', 'phoneE164', '*.phoneE164', 'phone_e164', '*.phone_e164', 'to', '*.to', 'from', '*.from',
  'email', '*.email', 'firstName', '*.firstName', 'lastName', '*.lastName', 'first_name', '*.first_name', 'last_name', '*.last_name',
  'text', '*.text', 'body', '*.body', 'message.text', 'messages[*].text', 'messages[*].to',
  'accessToken', '*.accessToken', 'access_token', '*.access_token', 'token', '*.token', 'apiKey', '*.apiKey', 'secret', '*.secret',
  'password', '*.password',
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-mitto-api-key"]', 'req.headers["stripe-signature"]',
  'req.headers["x-shopify-hmac-sha256"]', 'req.headers["x-simulator-signature"]', 'req.headers["x-internal-signature"]',
  'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie',
  'req.body', 'res.body',
];

// A phone number inside a free-text message (an error message from a provider,
// say) is masked as well: the path list cannot reach inside strings.
const PHONE_IN_TEXT = /\+?\d[\d\s().-]{7,}\d/g;
const EMAIL_IN_TEXT = /[\w.+-]+@[\w-]+\.[\w.-]+/g;

export function scrubText(text: string): string {
  return text.replace(PHONE_IN_TEXT, '[phone]').replace(EMAIL_IN_TEXT, '[email]');
}

/**
 * Every string inside a serialized error, scrubbed: not only message and
 * stack but the fields drivers add, such as Postgres' `detail` ("Key
 * (phone_e164)=(+1…) already exists.") and `where` (a statement's text), and
 * nested causes. Bounded depth: an error is a small tree.
 */
function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, depth + 1)]));
}

export function createLogger(opts: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    name: opts.name,
    base: { service: opts.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    // Context fields (requestId, traceId, shopId, jobId) join every line.
    mixin: () => {
      const { requestId, traceId, shopId, jobId, queue } = getContext();
      return { requestId, traceId: traceId ?? requestId, shopId, jobId, queue };
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as Parameters<typeof method>;
        method.apply(this, scrubbed);
      },
    },
    serializers: {
      err: (err: unknown) => scrubDeep(pino.stdSerializers.err(err as Error)),
    },
  };
  // Asynchronous stdout: under load, lines that arrive while a write is in
  // flight go out together in one write instead of one syscall each. Nothing
  // is held back on purpose (no minimum length), and pino flushes what is
  // pending when the process exits.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

let root: Logger | undefined;

/** The process logger; entry points may replace it (tests capture lines this way). */
export function getLogger(): Logger {
  root ??= createLogger({ name: process.env.SERVICE_NAME ?? 'sms' });
  return root;
}

export function setLogger(logger: Logger): void {
  root = logger;
}
