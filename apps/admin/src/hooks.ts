import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from './api/client';

// GETs started before React renders (main.tsx, for the page being opened):
// the first useApi of the same path takes the answer instead of asking again.
// index.html may have sent them already, before this code was even loaded
// (`__smsEarly`): then that answer is used, through api()'s error handling.
const PREFETCH_FRESH_MS = 5000;
const prefetched = new Map<string, { at: number; result: Promise<unknown> }>();

interface EarlyRequests {
  at: number;
  responses: Record<string, Promise<Response> | undefined>;
}

function takeEarly(path: string): Promise<Response> | undefined {
  const early = (globalThis as { __smsEarly?: EarlyRequests }).__smsEarly;
  const res = early?.responses[path];
  if (!early || !res) return undefined;
  delete early.responses[path];
  return Date.now() - early.at < PREFETCH_FRESH_MS ? res : undefined;
}

export function prefetch(path: string): void {
  const result = api('GET', path, { firstResponse: takeEarly(path) });
  // Settled here too, so an unused prefetch never surfaces as an unhandled rejection.
  result.catch(() => undefined);
  prefetched.set(path, { at: Date.now(), result });
}

function takePrefetched<T>(path: string): Promise<T> | undefined {
  const p = prefetched.get(path);
  prefetched.delete(path);
  return p && Date.now() - p.at < PREFETCH_FRESH_MS ? (p.result as Promise<T>) : undefined;
}

export interface Loaded<T> {
  data?: T;
  error?: ApiError | Error;
  loading: boolean;
  reload(): void;
}

/** The longest wait between polls after failures (unless `pollMs` itself is longer). */
export const POLL_BACKOFF_MAX_MS = 30_000;

/**
 * A refusal that asking again will not change (404, 403, 400…). Throttling,
 * timeouts, 5xx and network errors pass: a live campaign's stats must not
 * freeze on one of them.
 */
function permanent(err: unknown): boolean {
  return err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}

/**
 * GETs `path` (null: nothing yet) and, with `pollMs`, again every `pollMs`
 * while `keepPolling(data)` holds. A failed request keeps the last data and
 * shows its error; polling goes on with a doubling wait (up to
 * POLL_BACKOFF_MAX_MS), back to `pollMs` and without the error once a
 * request succeeds.
 */
export function useApi<T>(path: string | null, o: { pollMs?: number; keepPolling?: (d: T) => boolean } = {}): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError | Error; loading: boolean }>({ loading: path !== null });
  const [tick, setTick] = useState(0);
  const keep = useRef(o.keepPolling);
  keep.current = o.keepPolling;
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let first = true;
    let wait = o.pollMs ?? 0;
    const load = async () => {
      try {
        const early = first ? takePrefetched<T>(path) : undefined;
        first = false;
        const data = await (early ?? api<T>('GET', path, { signal: ctl.signal }));
        if (ctl.signal.aborted) return;
        setState({ data, loading: false });
        wait = o.pollMs ?? 0;
        if (o.pollMs && (keep.current?.(data) ?? true)) timer = setTimeout(load, o.pollMs);
      } catch (err) {
        if (ctl.signal.aborted) return;
        setState((s) => ({ data: s.data, error: err as Error, loading: false }));
        if (o.pollMs && !permanent(err)) {
          wait = Math.min(wait * 2, Math.max(POLL_BACKOFF_MAX_MS, o.pollMs));
          timer = setTimeout(load, wait);
        }
      }
    };
    setState((s) => ({ ...s, loading: true }));
    void load();
    return () => {
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [path, tick, o.pollMs]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** The value after it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
