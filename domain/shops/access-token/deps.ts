import type { Logger } from 'pino';
import type { Config } from '../../../lib/config';
import type { Db } from '../../../lib/db';
import type { Metrics } from '../../../lib/metrics';

/** What the token exchange and Admin API calls need: the api's and the worker's deps both fit. */
export interface ShopifyDeps {
  config: Config;
  db: Db;
  logger: Logger;
  metrics: Metrics;
}
