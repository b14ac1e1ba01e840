import { Banner, Text } from '@shopify/polaris';
import { ApiError } from '../api/client';
import { href } from '../router';

/**
 * The api's errors as a merchant reads them: 402 leads to Billing, a campaign
 * already on its way says so, anything else quotes the message and the
 * request id support will ask for.
 */
export function ApiErrorBanner({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  if (!error) return null;
  if (error instanceof ApiError && error.code === 'INSUFFICIENT_CREDITS') {
    const d = (error.details ?? {}) as { needed?: number; available?: number };
    return (
      <Banner tone="warning" title="Not enough credits" action={{ content: 'Buy credits', url: href('/billing') }} onDismiss={onDismiss}>
        <p>
          {d.needed !== undefined && d.available !== undefined
            ? `This needs ${d.needed.toLocaleString()} credits and ${d.available.toLocaleString()} are available.`
            : 'Buy credits to send this campaign.'}
        </p>
      </Banner>
    );
  }
  if (error instanceof ApiError && error.code === 'INVALID_STATE') {
    const status = (error.details as { status?: string } | undefined)?.status;
    const busy = status === 'queued' || status === 'sending';
    // Scheduled from another tab: nothing has gone out yet, and saying it was sent would be wrong.
    const scheduled = status === 'scheduled';
    // Sent from another tab and already finished (a small audience): the same news, in the past tense.
    const sent = status === 'completed';
    const title = busy ? 'This campaign is already sending' : scheduled ? 'This campaign is scheduled' : sent ? 'This campaign was already sent' : 'This campaign cannot be changed now';
    const text = busy
      ? 'It was sent already; follow its progress on its page.'
      : scheduled
        ? 'It is sent at its scheduled time; edit, reschedule or cancel it on its page.'
        : sent
          ? 'Its results are on its page.'
          : error.message;
    return (
      <Banner tone="info" title={title} onDismiss={onDismiss}>
        <p>{text}</p>
      </Banner>
    );
  }
  const message = error instanceof Error ? error.message : 'Something went wrong.';
  const requestId = error instanceof ApiError ? error.requestId : undefined;
  return (
    <Banner tone="critical" title="Something went wrong" onDismiss={onDismiss}>
      <p>{message}</p>
      {requestId ? (
        <Text as="p" variant="bodySm" tone="subdued">
          Request id: {requestId}
        </Text>
      ) : null}
    </Banner>
  );
}
