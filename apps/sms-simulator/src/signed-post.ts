import { Pool } from 'undici';
import { signSimulatorPayload, SIMULATOR_SIGNATURE_HEADER } from '../../../domain/messaging/providers/simulator-signature';

// Callbacks the simulator makes to the API (delivery reports, inbound texts),
// signed the way api.md's "Simulator scheme" describes.
//
// undici rather than node:http: one report per request makes the client's
// per-request cost the simulator's largest, and on the same box as the api
// that CPU is taken from the product being measured. A signed 200-byte POST
// over 32 kept-alive connections cost the client ~80 µs against ~140 µs with
// http.request (60 000 requests, loopback, a slow 2-core machine).

export interface SignedPostResult {
  status: number;
  body: string;
}

/** Kept-alive connections to one origin, at most `connections` at a time. */
export type CallbackPool = Pool;

export function createCallbackPool(url: URL, connections: number): CallbackPool {
  return new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 4_000 });
}

export async function postSigned(
  pool: CallbackPool,
  url: URL,
  rawBody: string,
  secret: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<SignedPostResult> {
  // Encoded once: the MAC and the socket then take the same bytes.
  const body = Buffer.from(rawBody, 'utf8');
  const res = await pool.request({
    path: url.pathname + url.search,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      // Signed at send time (not at enqueue time) so a report that waited in
      // the queue or a retry is still inside the receiver's tolerance window.
      [SIMULATOR_SIGNATURE_HEADER]: signSimulatorPayload(secret, body),
    },
    body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal,
  });
  return { status: res.statusCode, body: await res.body.text() };
}
