import type { Logger } from 'pino';
import type { RedisClient } from '../../../lib/redis';
import type { Config } from '../../../lib/config';
import type { Db } from '../../../lib/db';
import type { Metrics } from '../../../lib/metrics';
import type { MigrationFile } from '../../../lib/migrator';
import type { QueueSet } from '../../../queue/connection';
import type { Producer } from '../../../queue/producer';

/** Everything the API needs from the outside, injected so tests build it with real services. */
export interface ApiDeps {
  config: Config;
  db: Db;
  redis: RedisClient;
  queues: QueueSet;
  producer: Producer;
  logger: Logger;
  metrics: Metrics;
  migrations: MigrationFile[];
  /** Injectable clock: quiet hours, schedules and token expiry are tested with it. */
  now: () => Date;
}
