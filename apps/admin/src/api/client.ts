import { sessionToken } from '../bridge';

/** An error answer of the api: `{error: {code, message, requestId, details}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly requestId?: string,
  ) {
    super(message);
  }

  /** `details: [{path, message}]` of a 400, by path (the fields show them). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    if (Array.isArray(this.details)) {
      for (const d of this.details as { path?: unknown; message?: unknown }[]) {
        if (typeof d.path === 'string' && typeof d.message === 'string' && !out[d.path]) out[d.path] = d.message;
      }
    }
    return out;
  }
}

export interface RequestOptions {
  body?: unknown;
  /** One per user intent (made when the intent starts), reused by every retry of it. */
  idempotencyKey?: string;
  signal?: AbortSignal;
  /** The answer of a request already made for this call (index.html's early GETs): its first attempt. */
  firstResponse?: Promise<Response>;
}

const MAX_ATTEMPTS = 4;
const MAX_WAIT_MS = 10_000;

/** Retry-After in seconds (the api's form), bounded; exponential back-off without one. */
function retryDelayMs(res: Response, attempt: number): number {
  const s = Number(res.headers.get('Retry-After'));
  const ms = Number.isFinite(s) && s > 0 ? s * 1000 : 500 * 2 ** attempt;
  return Math.min(ms, MAX_WAIT_MS);
}

const wait = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/**
 * Calls the api with the session token. A 401 fetches a fresh token and
 * retries once (App Bridge tokens live a minute); 429, 503 and 409
 * REQUEST_IN_PROGRESS wait Retry-After and retry with the same key, which the
 * api documents as safe: nothing was written.
 */
export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    const early = attempt === 0 ? await opts.firstResponse?.catch(() => undefined) : undefined;
    const res = early ?? (await send(method, path, opts));
    if (res.status === 204) return undefined as T;
    if (res.ok) return (await res.json()) as T;

    const payload = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: unknown; requestId?: string } };
    const e = payload.error ?? {};
    const code = e.code ?? 'INTERNAL';
    if (res.status === 401 && !refreshed) {
      refreshed = true;
      continue;
    }
    const retryable = res.status === 429 || res.status === 503 || code === 'REQUEST_IN_PROGRESS';
    if (retryable && attempt + 1 < MAX_ATTEMPTS) {
      await wait(retryDelayMs(res, attempt), opts.signal);
      continue;
    }
    throw new ApiError(res.status, code, e.message ?? `Request failed (${res.status})`, e.details, e.requestId);
  }
}

async function send(method: string, path: string, opts: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { Authorization: `Bearer ${await sessionToken()}`, Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  return fetch(`/api${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
    cache: 'no-store',
  });
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
