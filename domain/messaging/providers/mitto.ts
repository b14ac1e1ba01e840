import type http from 'node:http';
import { createKeepAliveAgent, HttpPostError, postJson, type PostResponse } from './http-post';
import {
  hasResponseCode,
  MITTO_API_KEY_HEADER,
  MITTO_MAX_BULK,
  mapMittoBulkResponse,
  mapMittoResult,
  rejectedResults,
  toMittoMessage,
  unknownResults,
} from './mitto-wire';
import {
  ProviderError,
  ProviderRateLimitedError,
  ProviderRequestError,
  ProviderUnavailableError,
  type OutboundMessage,
  type SendContext,
  type SendResult,
  type SmsProvider,
} from './provider';

/** Outcome label for `sms_provider_request_duration_seconds{provider,outcome}`. */
export type ProviderRequestOutcome = 'ok' | 'rate_limited' | 'unavailable' | 'client_error' | 'unknown' | 'aborted';

export interface MittoProviderOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
  name?: 'mitto' | 'simulator';
  maxSockets?: number;
  /**
   * Whether the provider guarantees that a repeated `reference` never becomes a
   * second SMS. Off by default: Mitto does not document it, and a wrong
   * guess sends every ambiguous batch twice. Only true for an account where
   * it is confirmed (SMS_PROVIDER_DEDUPS_BY_REFERENCE); otherwise an unknown
   * outcome is recorded and never re-sent.
   */
  dedupsByReference?: boolean;
  onRequest?: (outcome: ProviderRequestOutcome, seconds: number) => void;
}

export interface MittoProvider extends SmsProvider {
  /** Closes pooled sockets; the provider must not be used afterwards. */
  close(): void;
}

const DEFAULT_RETRY_AFTER_MS = 1_000;
const MAX_RETRY_AFTER_MS = 3_600_000;
// Header values with control characters make node:http throw; a trace id is
// diagnostic only, so an odd one is dropped rather than failing the send.
const SAFE_HEADER_VALUE = /^[\x21-\x7e]{1,256}$/;

export function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number = Date.now()): number {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return DEFAULT_RETRY_AFTER_MS;
  const trimmed = raw.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    ms = Math.ceil(Number(trimmed) * 1000);
  } else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return DEFAULT_RETRY_AFTER_MS;
    ms = at - nowMs;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function transientRejectionCode(err: ProviderError): string {
  if (err instanceof ProviderRateLimitedError) return 'rate_limited';
  if (err instanceof ProviderRequestError) return `http_${err.status}`;
  return 'provider_unavailable';
}

export function createMittoProvider(options: MittoProviderOptions): MittoProvider {
  const name = options.name ?? 'mitto';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const dedupsByReference = options.dedupsByReference ?? false;
  const base = options.baseUrl.replace(/\/+$/, '');
  const singleUrl = new URL(`${base}/sms`);
  const bulkUrl = new URL(`${base}/smsbulk`);
  const agent: http.Agent = createKeepAliveAgent(singleUrl, options.maxSockets ?? 16);
  const onRequest = options.onRequest;

  function report(outcome: ProviderRequestOutcome, startedAt: number): void {
    if (onRequest) onRequest(outcome, (performance.now() - startedAt) / 1000);
  }

  async function post(url: URL, body: string, ctx: SendContext): Promise<PostResponse> {
    const headers: Record<string, string> = { [MITTO_API_KEY_HEADER]: options.apiKey };
    if (SAFE_HEADER_VALUE.test(ctx.traceId)) headers['x-request-id'] = ctx.traceId;
    const attempt = (): Promise<PostResponse> =>
      postJson({ agent, url, body, headers, timeoutMs, signal: ctx.signal });
    try {
      return await attempt();
    } catch (err) {
      // A pooled socket the server had just closed fails instantly. Trying once
      // more on a fresh socket is safe when the request cannot have been
      // processed, or when the provider collapses repeats of a reference.
      if (
        err instanceof HttpPostError &&
        err.reason === 'network' &&
        err.reusedSocket &&
        (!err.mayHaveReachedServer || dedupsByReference)
      ) {
        return attempt();
      }
      throw err;
    }
  }

  async function sendChunk(chunk: OutboundMessage[], ctx: SendContext): Promise<SendResult[]> {
    const single = chunk.length === 1;
    const body = single
      ? JSON.stringify(toMittoMessage(chunk[0] as OutboundMessage))
      : JSON.stringify({ messages: chunk.map(toMittoMessage) });
    const startedAt = performance.now();

    let res: PostResponse;
    try {
      res = await post(single ? singleUrl : bulkUrl, body, ctx);
    } catch (err) {
      if (!(err instanceof HttpPostError)) throw err;
      if (!err.mayHaveReachedServer) {
        report(err.reason === 'aborted' ? 'aborted' : 'unavailable', startedAt);
        throw new ProviderUnavailableError(name, `${name} request not sent (${err.reason}): ${err.message}`, undefined, {
          cause: err,
        });
      }
      report(err.reason === 'aborted' ? 'aborted' : 'unknown', startedAt);
      return unknownResults(chunk, `${err.reason}_after_send`);
    }

    const { status } = res;
    if (status === 200) {
      const parsed = parseJson(res.body);
      if (parsed === undefined) {
        report('unknown', startedAt);
        return unknownResults(chunk, 'unreadable_response');
      }
      report('ok', startedAt);
      return single
        ? [mapMittoResult((chunk[0] as OutboundMessage).reference, parsed)]
        : mapMittoBulkResponse(chunk, parsed);
    }
    if (status === 429) {
      report('rate_limited', startedAt);
      throw new ProviderRateLimitedError(name, parseRetryAfterMs(res.headers['retry-after']));
    }
    if (status === 502 || status === 504) {
      // A gateway error can come from a proxy after the provider already took
      // the request; only the provider's own refusal proves nothing was sent.
      report('unknown', startedAt);
      return unknownResults(chunk, `http_${status}`);
    }
    if (status === 408 || status >= 500) {
      report('unavailable', startedAt);
      throw new ProviderUnavailableError(name, `${name} answered ${status}`, status);
    }
    if (single && status !== 401 && status !== 403 && status >= 400 && status < 500) {
      // A single send may be refused with a per-message Mitto code in the body.
      const parsed = parseJson(res.body);
      if (hasResponseCode(parsed)) {
        report('client_error', startedAt);
        return [mapMittoResult((chunk[0] as OutboundMessage).reference, parsed)];
      }
    }
    if (status >= 400 && status < 500) {
      report('client_error', startedAt);
      const what = status === 401 || status === 403 ? 'refused the API key' : 'refused the request';
      throw new ProviderRequestError(name, `${name} ${what} (${status})`, status);
    }
    // Remaining 2xx other than 200: the request went through but the body is not one we know.
    report('unknown', startedAt);
    return unknownResults(chunk, `http_${status}`);
  }

  return {
    name,
    dedupsByReference,
    maxBatchSize: MITTO_MAX_BULK,
    async sendBatch(messages: OutboundMessage[], ctx: SendContext): Promise<SendResult[]> {
      if (messages.length <= MITTO_MAX_BULK) {
        return messages.length === 0 ? [] : sendChunk(messages, ctx);
      }
      const out: SendResult[] = [];
      for (let i = 0; i < messages.length; i += MITTO_MAX_BULK) {
        const chunk = messages.slice(i, i + MITTO_MAX_BULK);
        try {
          const results = await sendChunk(chunk, ctx);
          for (const r of results) out.push(r);
        } catch (err) {
          // Throwing now would hide what earlier chunks got accepted, so the
          // unsent rest is reported as transient rejections instead.
          if (i === 0 || !(err instanceof ProviderError)) throw err;
          for (const r of rejectedResults(messages.slice(i), transientRejectionCode(err), false)) out.push(r);
          break;
        }
      }
      return out;
    },
    close(): void {
      agent.destroy();
    },
  };
}
