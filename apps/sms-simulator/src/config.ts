import { z } from 'zod';

// The simulator's own env, validated once at start. It does not use lib/config
// because it must run without the API's required settings (database, Redis).

const port = z.coerce.number().int().min(0).max(65_535);

const schema = z.object({
  SMS_SIMULATOR_PORT: port.default(4010),
  // Empty = all interfaces, like a plain `listen(port)`.
  SMS_SIMULATOR_HOST: z.string().optional(),
  PORT: port.default(3000),
  SMS_WEBHOOK_SECRET: z.string().min(1).default('dev-sms-webhook-secret'),
  SMS_PROVIDER_API_KEY: z.string().min(1).default('dev-sms-api-key'),
  SIMULATOR_DLR_URL: z.url().optional(),
  SIMULATOR_INBOUND_URL: z.url().optional(),
  SIMULATOR_DLR_DELAY_MS: z.coerce.number().int().min(0).default(200),
  SIMULATOR_DELIVERED_RATIO: z.coerce.number().min(0).max(1).default(0.95),
  SIMULATOR_DLR_ENABLED: z.stringbool().default(true),
  SIMULATOR_DLR_CONCURRENCY: z.coerce.number().int().min(1).max(4096).default(32),
  SIMULATOR_DLR_MAX_PENDING: z.coerce.number().int().min(1).default(2_000_000),
  // Reports per callback: 1 = one request each; more = the batched form
  // (`{"reports": [...]}`, at most the API's MAX_REPORTS_PER_CALLBACK).
  SIMULATOR_DLR_BATCH: z.coerce.number().int().min(1).max(500).default(1),
  // Off models a provider that does not collapse repeats of a reference (the
  // safe assumption for Mitto): every repeat becomes a second SMS.
  SIMULATOR_DEDUPS_BY_REFERENCE: z.stringbool().default(true),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface SimulatorConfig {
  port: number;
  host: string | undefined;
  apiKey: string;
  webhookSecret: string;
  dlrUrl: string;
  inboundUrl: string;
  dlrDelayMs: number;
  deliveredRatio: number;
  dlrEnabled: boolean;
  dlrConcurrency: number;
  maxPendingDlr: number;
  /** Reports per delivery-report callback (1: the single form). */
  dlrBatch: number;
  /** Repeats of a reference are answered with the first id and not sent again. */
  dedupsByReference: boolean;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
}

export class SimulatorConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid sms-simulator configuration: ${problems.join('; ')}`);
    this.name = 'SimulatorConfigError';
  }
}

export function loadSimulatorConfig(env: NodeJS.ProcessEnv = process.env): SimulatorConfig {
  // `FOO=` in a .env file means "unset", not "empty string".
  const present: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') present[key] = value.trim();
  }
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    throw new SimulatorConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const apiBase = `http://127.0.0.1:${e.PORT}`;
  return {
    port: e.SMS_SIMULATOR_PORT,
    host: e.SMS_SIMULATOR_HOST,
    apiKey: e.SMS_PROVIDER_API_KEY,
    webhookSecret: e.SMS_WEBHOOK_SECRET,
    dlrUrl: e.SIMULATOR_DLR_URL ?? `${apiBase}/webhooks/sms/simulator/status`,
    inboundUrl: e.SIMULATOR_INBOUND_URL ?? `${apiBase}/webhooks/sms/simulator/inbound`,
    dlrDelayMs: e.SIMULATOR_DLR_DELAY_MS,
    deliveredRatio: e.SIMULATOR_DELIVERED_RATIO,
    dlrEnabled: e.SIMULATOR_DLR_ENABLED,
    dlrConcurrency: e.SIMULATOR_DLR_CONCURRENCY,
    maxPendingDlr: e.SIMULATOR_DLR_MAX_PENDING,
    dlrBatch: e.SIMULATOR_DLR_BATCH,
    dedupsByReference: e.SIMULATOR_DEDUPS_BY_REFERENCE,
    logLevel: e.LOG_LEVEL,
  };
}
