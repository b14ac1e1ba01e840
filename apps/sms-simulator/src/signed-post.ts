import http from 'node:http';
import https from 'node:https';
import { signSimulatorPayload, SIMULATOR_SIGNATURE_HEADER } from '../../../domain/messaging/providers/simulator-signature';

// Callbacks the simulator makes to the API (delivery reports, inbound texts),
// signed the way api.md's "Simulator scheme" describes.

export interface SignedPostResult {
  status: number;
  body: string;
}

export function createCallbackAgent(url: URL, maxSockets: number): http.Agent {
  const options: http.AgentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 4_000 };
  return url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

export function postSigned(
  url: URL,
  rawBody: string,
  secret: string,
  agent: http.Agent,
  timeoutMs: number,
  track?: (req: http.ClientRequest) => void,
): Promise<SignedPostResult> {
  // Encoded once: the MAC and the socket then take the same bytes, instead of
  // each encoding the string (and the socket first joining it to the headers).
  const body = Buffer.from(rawBody, 'utf8');
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request({
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        // Signed at send time (not at enqueue time) so a report that waited in
        // the queue or a retry is still inside the receiver's tolerance window.
        [SIMULATOR_SIGNATURE_HEADER]: signSimulatorPayload(secret, body),
      },
    });
    track?.(req);
    const timer = setTimeout(() => req.destroy(new Error(`callback timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('close', () => {
        clearTimeout(timer);
        if (!res.complete) reject(new Error('callback response ended early'));
      });
    });
    req.end(body);
  });
}
