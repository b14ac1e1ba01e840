export interface ScenarioOptions {
  /** The CI subset's sizes. */
  fast: boolean;
  /** The shared Postgres server (DATABASE_URL); a scenario's own database is created on it. */
  databaseUrl: string;
}
