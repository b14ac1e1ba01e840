/**
 * The event cannot be applied YET (a delivery report that beat the send's
 * settle, say). The job retries it with backoff; when the attempts run out
 * the event is `dropped` rather than `failed`, because nothing is broken.
 */
export class WebhookNotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookNotReadyError';
  }
}

/**
 * Another run of the same event closed it first (an inline run and a drain,
 * or two jobs, at the same moment): this run's effect was rolled back, so the
 * event took effect once. Carries the status that run left.
 */
export class WebhookEventClosedError extends Error {
  constructor(readonly status: string) {
    super(`webhook event already ${status}`);
    this.name = 'WebhookEventClosedError';
  }
}
