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
