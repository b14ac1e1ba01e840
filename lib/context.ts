import { AsyncLocalStorage } from 'node:async_hooks';

// What every log line and job payload carries: one trace id from the HTTP
// request (X-Request-Id) through outbox rows, jobs and provider calls.
export interface RequestContext {
  requestId?: string;
  traceId?: string;
  shopId?: string;
  jobId?: string;
  queue?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...ctx }, fn);
}

export function getContext(): RequestContext {
  return storage.getStore() ?? {};
}

/** Adds fields to the current context (e.g. shopId once auth has run). */
export function setContext(fields: Partial<RequestContext>): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

export function currentTraceId(): string | undefined {
  const ctx = getContext();
  return ctx.traceId ?? ctx.requestId;
}
