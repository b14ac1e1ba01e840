import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from './api/client';

export interface Loaded<T> {
  data?: T;
  error?: ApiError | Error;
  loading: boolean;
  reload(): void;
}

/**
 * GETs `path` (null: nothing yet) and, with `pollMs`, again every `pollMs`
 * while `keepPolling(data)` holds; a failed poll keeps the last data.
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
    const load = async () => {
      try {
        const data = await api<T>('GET', path, { signal: ctl.signal });
        if (ctl.signal.aborted) return;
        setState({ data, loading: false });
        if (o.pollMs && (keep.current?.(data) ?? true)) timer = setTimeout(load, o.pollMs);
      } catch (err) {
        if (ctl.signal.aborted) return;
        setState((s) => ({ data: s.data, error: err as Error, loading: false }));
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
