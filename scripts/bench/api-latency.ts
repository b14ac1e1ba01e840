import type { Stack } from '../lib/stack';
import { parseBuckets, type Buckets } from './histogram';

/**
 * The api's request-latency histogram (its /metrics, with the stack's token),
 * summed over the series whose label set `keep` accepts: scraped before and
 * after a scenario, it gives the server's own view of the requests made in
 * between, beside what the bench's client measured.
 */
export async function apiLatency(stack: Stack, keep: (labels: string) => boolean): Promise<Buckets> {
  const token = stack.config.METRICS_TOKEN;
  const res = await fetch(`${stack.urls.api}/metrics`, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`api /metrics answered ${res.status}`);
  return parseBuckets(await res.text(), 'http_request_duration_seconds', keep);
}
