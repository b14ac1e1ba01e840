import { createHash, timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';

export interface MetricsEndpointOptions {
  registry: Registry;
  /** When set, scrapes must send `Authorization: Bearer <token>`. */
  token?: string;
  /** Refreshes the gauges that are read at scrape time. */
  beforeScrape?: () => Promise<void>;
}

// Compared as SHA-256 digests: equal lengths always, so neither the token's
// content nor its length shows in the time a wrong guess takes.
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+)$/i.exec(header ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/**
 * What GET /metrics answers, whichever HTTP server serves it (the api's and
 * the worker's): null when the token is wrong (the caller answers 401),
 * otherwise the exposition. A failed refresh leaves the last values; the
 * scrape itself still answers.
 */
export async function scrapeMetrics(o: MetricsEndpointOptions, authorization: string | undefined): Promise<{ contentType: string; body: string } | null> {
  if (o.token && !tokenMatches(authorization, o.token)) return null;
  await o.beforeScrape?.().catch(() => undefined);
  return { contentType: o.registry.contentType, body: await o.registry.metrics() };
}
