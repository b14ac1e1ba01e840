import type { Logger } from 'pino';
import type { RedisClient } from '../../../lib/redis';
import type { Config } from '../../../lib/config';
import type { Db } from '../../../lib/db';
import type { Metrics } from '../../../lib/metrics';
import type { QueueSet } from '../../../queue/connection';
import type { Producer } from '../../../queue/producer';
import type { SmsProvider } from '../../../domain/messaging/providers/provider';

export interface WorkerDeps {
  config: Config;
  db: Db;
  /** Blocking connection for workers (maxRetriesPerRequest: null). */
  redis: RedisClient;
  queues: QueueSet;
  producer: Producer;
  logger: Logger;
  metrics: Metrics;
  now: () => Date;
  /** The SMS provider the send pipeline calls (built from SMS_PROVIDER*; tests inject one). */
  provider?: SmsProvider;
}
