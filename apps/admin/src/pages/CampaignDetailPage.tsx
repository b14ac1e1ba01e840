import { Banner, BlockStack, Box, Card, InlineGrid, InlineStack, Layout, Modal, Page, SkeletonBodyText, Text, TextField } from '@shopify/polaris';
import { useEffect, useRef, useState } from 'react';
import { api, ApiError, newIdempotencyKey } from '../api/client';
import type { Campaign, CampaignStats, CampaignTimeseries, Shop } from '../api/types';
import { describeAudience } from '../audience';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { CampaignPerformanceCard } from '../components/CampaignPerformanceCard';
import { CampaignProgress, progressOf } from '../components/CampaignProgress';
import { MessagesChart } from '../components/MessagesChart';
import { StatusBadge } from '../components/StatusBadge';
import { dateTime, num } from '../format';
import { useApi } from '../hooks';
import { href } from '../router';
import { utcToZoned, zonedToUtc } from '../zoned-time';

const LIVE = new Set(['queued', 'scheduled', 'sending']);
/** The chart moves only while messages go out (a scheduled campaign has nothing to draw yet). */
const CHARTING = new Set(['queued', 'sending']);

function Stat({ label, value, testId }: { label: string; value: number | undefined; testId: string }) {
  return (
    <BlockStack gap="050">
      <Text as="span" variant="bodySm" tone="subdued">
        {label}
      </Text>
      <Text as="span" variant="headingLg">
        <span data-testid={testId}>{value === undefined ? '—' : num(value)}</span>
      </Text>
    </BlockStack>
  );
}

/** Why recipients were skipped, in words: smart sending, quiet hours that never opened, and the rest (opted out, invalid…). */
function skippedReasons(s: CampaignStats): string {
  const capped = s.skippedFrequencyCap ?? 0;
  const quiet = s.skippedQuietHours ?? 0;
  const other = Math.max(0, s.skipped - capped - quiet);
  const parts = [
    capped > 0 ? `${num(capped)} texted recently (smart sending)` : null,
    quiet > 0 ? `${num(quiet)} whose quiet hours never opened` : null,
    other > 0 ? `${num(other)} opted out or not sendable` : null,
  ].filter((p): p is string => p !== null);
  return `Skipped, never charged: ${parts.join(' · ')}.`;
}

export default function CampaignDetailPage({ campaignId }: { campaignId: string }) {
  const campaign = useApi<Campaign>(`/campaigns/${campaignId}`, { pollMs: 2000, keepPolling: (c) => LIVE.has(c.status) });
  const stats = useApi<CampaignStats>(`/campaigns/${campaignId}/stats`, { pollMs: 1000, keepPolling: (s) => LIVE.has(s.status) });
  const [cancelKey, setCancelKey] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [error, setError] = useState<unknown>();
  const inFlight = useRef(false);
  // A scheduled campaign may be moved to another future time (PATCH scheduledAt): one key per opening of the modal.
  const shop = useApi<Shop>('/shop');
  const timeZone = shop.data?.timezone ?? 'UTC';
  const [move, setMove] = useState<{ key: string; date: string; time: string; error?: string } | null>(null);
  const [moving, setMoving] = useState(false);
  const c = campaign.data;
  const s = stats.data;
  const status = s?.status ?? c?.status;
  // Polled while the campaign sends; once more when it stops, for the last buckets.
  const charting = status !== undefined && CHARTING.has(status);
  const chartingRef = useRef(charting);
  chartingRef.current = charting;
  // Each poll reads every recipient once (≈ 1 s for a million here): a big campaign's chart moves less often.
  const total = s?.total ?? 0;
  const chartPollMs = total > 100_000 ? 10_000 : total > 10_000 ? 3000 : 1000;
  const series = useApi<CampaignTimeseries>(`/campaigns/${campaignId}/timeseries`, { pollMs: chartPollMs, keepPolling: () => chartingRef.current });
  const reloadSeries = series.reload;
  const wasCharting = useRef(false);
  useEffect(() => {
    if (charting !== wasCharting.current) reloadSeries();
    wasCharting.current = charting;
  }, [charting, reloadSeries]);

  const cancel = async () => {
    if (!cancelKey || inFlight.current) return;
    inFlight.current = true;
    setCancelling(true);
    try {
      await api<Campaign>('POST', `/campaigns/${campaignId}/cancel`, { body: {}, idempotencyKey: cancelKey });
      setCancelKey(null);
      campaign.reload();
      stats.reload();
    } catch (err) {
      setCancelKey(null);
      setError(err);
    } finally {
      inFlight.current = false;
      setCancelling(false);
    }
  };

  const openMove = () => {
    const when = c?.scheduledAt ? utcToZoned(c.scheduledAt, timeZone) : { date: '', time: '' };
    setMove({ key: newIdempotencyKey(), ...when });
  };
  const moveAt = move ? zonedToUtc(move.date, move.time, timeZone) : null;
  const moveError = move && (!moveAt || moveAt.getTime() <= Date.now()) ? 'Choose a date and time in the future' : undefined;
  const reschedule = async () => {
    if (!move || !moveAt || moveError || inFlight.current) return;
    inFlight.current = true;
    setMoving(true);
    try {
      await api<Campaign>('PATCH', `/campaigns/${campaignId}`, { body: { scheduledAt: moveAt.toISOString() }, idempotencyKey: move.key });
      setMove(null);
      campaign.reload();
      stats.reload();
    } catch (err) {
      const onField = err instanceof ApiError && err.status === 400 ? err.fieldErrors().scheduledAt : undefined;
      // Refused on the field: the merchant picks another time, under a new key (the refusal was not stored).
      if (onField) setMove((m) => (m ? { ...m, key: newIdempotencyKey(), error: onField } : m));
      else {
        setMove(null);
        setError(err);
      }
    } finally {
      inFlight.current = false;
      setMoving(false);
    }
  };

  const cancellable = status === 'queued' || status === 'scheduled' || status === 'sending';
  const secondaryActions = [
    ...(status === 'scheduled' && c?.scheduledAt
      ? [
          { content: 'Edit', url: href(`/campaigns/${campaignId}/edit`) },
          // Offered once the shop's timezone is known: the fields are read in it.
          ...(shop.data ? [{ content: 'Reschedule', onAction: openMove }] : []),
        ]
      : []),
    ...(cancellable ? [{ content: 'Cancel campaign', destructive: true, onAction: () => setCancelKey(newIdempotencyKey()) }] : []),
  ];
  return (
    <Page
      title={c?.name ?? 'Campaign'}
      titleMetadata={status ? <StatusBadge status={status} /> : undefined}
      backAction={{ content: 'Campaigns', url: href('/campaigns') }}
      secondaryActions={secondaryActions}
    >
      <Layout>
        {campaign.error || stats.error || error ? (
          <Layout.Section>
            <ApiErrorBanner error={error ?? campaign.error ?? stats.error} onDismiss={error ? () => setError(undefined) : undefined} />
          </Layout.Section>
        ) : null}
        {status === 'scheduled' && c?.scheduledAt ? (
          <Layout.Section>
            <Banner tone="info" title={shop.data ? `Scheduled for ${dateTime(c.scheduledAt, timeZone)} (${timeZone})` : `Scheduled for ${dateTime(c.scheduledAt)}`} />
          </Layout.Section>
        ) : null}
        {s && (s.deferred ?? 0) > 0 && LIVE.has(s.status) ? (
          <Layout.Section>
            {/* Without it a campaign sent at 06:00 in New York sat at 0 % with no word of why. */}
            <Banner tone="info" title={`${num(s.deferred ?? 0)} ${s.deferred === 1 ? 'recipient is' : 'recipients are'} waiting for their quiet hours to end`}>
              <p data-testid="deferred-note">
                Quiet hours hold in each recipient&apos;s local time, and US and Canadian numbers are never texted before 08:00 or after 21:00 there.{' '}
                {s.deferredUntil ? `Sending resumes ${dateTime(s.deferredUntil)}.` : 'Sending resumes when their window opens.'} Nothing is dropped: their credits stay reserved until then.
              </p>
            </Banner>
          </Layout.Section>
        ) : null}
        <Layout.Section>
          <Card>
            <BlockStack gap="400">
              <InlineStack align="space-between">
                <Text as="h2" variant="headingMd">
                  Progress
                </Text>
                <Text as="span" variant="bodyMd">
                  <span data-testid="progress-percent">{s ? `${progressOf(s)} %` : '—'}</span>
                </Text>
              </InlineStack>
              {s ? <CampaignProgress stats={s} label="Campaign progress" /> : <SkeletonBodyText lines={1} />}
              <InlineGrid columns={{ xs: 2, md: 6 }} gap="400">
                <Stat label="Recipients" value={s?.total} testId="stat-total" />
                {/* Recipients still in `sent`: their delivery report has not come yet (the texts sent are on the Results card). */}
                <Stat label="Awaiting report" value={s?.sent} testId="stat-sent" />
                <Stat label="Delivered" value={s?.delivered} testId="stat-delivered" />
                <Stat label="Failed" value={s?.failed} testId="stat-failed" />
                <Stat label="Skipped" value={s?.skipped} testId="stat-skipped" />
                <Stat label="Unknown" value={s?.unknown} testId="stat-unknown" />
                {/* A cancelled campaign's unsent recipients: without it they were in no figure but the total. */}
                {s && (s.cancelled > 0 || s.status === 'cancelled') ? <Stat label="Cancelled" value={s.cancelled} testId="stat-cancelled" /> : null}
              </InlineGrid>
              {s && s.skipped > 0 ? (
                <Text as="p" variant="bodySm" tone="subdued">
                  <span data-testid="skipped-reasons">{skippedReasons(s)}</span>
                </Text>
              ) : null}
            </BlockStack>
          </Card>
        </Layout.Section>
        <Layout.Section>
          <CampaignPerformanceCard performance={s} />
        </Layout.Section>
        <Layout.Section>
          <Card>
            <BlockStack gap="300">
              <Text as="h2" variant="headingMd">
                Messages over time
              </Text>
              {series.data ? <MessagesChart series={series.data} /> : series.error ? <Text as="p" tone="subdued">The chart could not be loaded.</Text> : <SkeletonBodyText lines={4} />}
            </BlockStack>
          </Card>
        </Layout.Section>
        <Layout.Section>
          <Card>
            <BlockStack gap="300">
              <Text as="h2" variant="headingMd">
                Credits
              </Text>
              <InlineGrid columns={3} gap="400">
                <Stat label="Reserved" value={s?.creditsReserved} testId="stat-credits-reserved" />
                <Stat label="Debited" value={s?.creditsDebited} testId="stat-credits-debited" />
                <Stat label="Released" value={s?.creditsReleased} testId="stat-credits-released" />
              </InlineGrid>
            </BlockStack>
          </Card>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingMd">
                Message
              </Text>
              <Box padding="300" background="bg-surface-secondary" borderRadius="300">
                <div style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
                  <Text as="p">{c?.body ?? '…'}</Text>
                </div>
              </Box>
              <Text as="p" variant="bodySm" tone="subdued">
                Audience: {c ? describeAudience(c.audience, shop.data?.timezone) : '…'}
              </Text>
              <Text as="p" variant="bodySm" tone="subdued">
                Started {dateTime(s?.startedAt ?? null)} · Completed {dateTime(s?.completedAt ?? null)}
              </Text>
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
      <Modal
        open={cancelKey !== null}
        onClose={() => (cancelling ? undefined : setCancelKey(null))}
        title="Cancel this campaign?"
        primaryAction={{ content: 'Cancel campaign', destructive: true, onAction: () => void cancel(), loading: cancelling }}
        secondaryActions={[{ content: 'Keep sending', onAction: () => setCancelKey(null), disabled: cancelling }]}
      >
        <Modal.Section>
          <Text as="p">Messages not yet sent will not be sent, and their credits are returned to your wallet. Messages already sent cannot be recalled.</Text>
        </Modal.Section>
      </Modal>
      <Modal
        open={move !== null}
        onClose={() => (moving ? undefined : setMove(null))}
        title="Reschedule this campaign"
        primaryAction={{ content: 'Reschedule', onAction: () => void reschedule(), loading: moving, disabled: Boolean(moveError) || moving }}
        secondaryActions={[{ content: 'Keep the time', onAction: () => setMove(null), disabled: moving }]}
      >
        <Modal.Section>
          <BlockStack gap="300">
            <InlineGrid columns={2} gap="300">
              <TextField
                label="Date"
                type="date"
                value={move?.date ?? ''}
                onChange={(date) => setMove((m) => (m ? { ...m, date, error: undefined } : m))}
                autoComplete="off"
                error={moveError ?? move?.error}
              />
              <TextField label="Time" type="time" value={move?.time ?? ''} onChange={(time) => setMove((m) => (m ? { ...m, time, error: undefined } : m))} autoComplete="off" />
            </InlineGrid>
            <Text as="p" variant="bodySm" tone="subdued">
              In the shop&apos;s timezone ({timeZone}). The credits stay reserved; to stop the campaign instead, cancel it.
            </Text>
          </BlockStack>
        </Modal.Section>
      </Modal>
    </Page>
  );
}
