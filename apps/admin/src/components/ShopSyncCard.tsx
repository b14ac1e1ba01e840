import { Badge, BlockStack, Button, Card, InlineStack, SkeletonBodyText, Text } from '@shopify/polaris';
import { useState } from 'react';
import { api, ApiError, newIdempotencyKey } from '../api/client';
import { toast } from '../bridge';
import { dateTime } from '../format';
import { useApi } from '../hooks';
import { ApiErrorBanner } from './ApiErrorBanner';

/** GET /api/shop/sync (docs/api.md, "Customer sync from Shopify"). */
export interface ShopSync {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  reason: 'install' | 'resync';
  counts: {
    customersSeen: number;
    contactsCreated: number;
    contactsUpdated: number;
    contactsUnchanged: number;
    skippedNoPhone: number;
    invalidPhone: number;
    subscribed: number;
    optedOut: number;
  };
  exportFinishedVia: 'webhook' | 'poll' | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

const open = (s: ShopSync) => s.status === 'queued' || s.status === 'running';
const TONE = { queued: 'info', running: 'attention', completed: 'success', failed: 'critical' } as const;
const n = (v: number) => v.toLocaleString('en-US');

/**
 * The customers imported from the store: the newest sync's status and counts
 * (polled while it runs), and a Resync button (one sync per shop: pressing it
 * while one runs shows that one).
 */
export function ShopSyncCard({ timeZone }: { timeZone?: string }) {
  const sync = useApi<ShopSync>('/shop/sync', { pollMs: 2_000, keepPolling: open });
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<unknown>();
  const none = sync.error instanceof ApiError && sync.error.status === 404;
  const s = sync.data;

  const resync = async () => {
    setStarting(true);
    setError(undefined);
    try {
      const started = await api<ShopSync>('POST', '/shop/sync', { body: {}, idempotencyKey: newIdempotencyKey() });
      toast(started.status === 'queued' ? 'Resync started' : 'A sync is already running');
      sync.reload();
    } catch (err) {
      setError(err);
    } finally {
      setStarting(false);
    }
  };

  return (
    <Card>
      <BlockStack gap="300">
        {error || (sync.error && !none) ? <ApiErrorBanner error={error ?? sync.error} onDismiss={error ? () => setError(undefined) : undefined} /> : null}
        {!s && sync.loading ? <SkeletonBodyText lines={3} /> : null}
        {none && !s ? <Text as="p">No customers have been imported from your store yet.</Text> : null}
        {s ? (
          <BlockStack gap="200">
            <InlineStack gap="200" blockAlign="center">
              <Text as="h3" variant="headingSm">{s.reason === 'install' ? 'First import' : 'Resync'}</Text>
              <Badge tone={TONE[s.status]}>{s.status}</Badge>
            </InlineStack>
            <Text as="p" tone="subdued">
              {s.finishedAt ? `Finished ${dateTime(s.finishedAt, timeZone)}` : `Started ${dateTime(s.startedAt ?? s.createdAt, timeZone)}`}
            </Text>
            <Text as="p">
              {n(s.counts.customersSeen)} customers read: {n(s.counts.contactsCreated)} new contacts, {n(s.counts.contactsUpdated)} updated,{' '}
              {n(s.counts.skippedNoPhone + s.counts.invalidPhone)} without a usable phone. {n(s.counts.subscribed)} subscribed to SMS, {n(s.counts.optedOut)} opted out.
            </Text>
            {s.error ? <Text as="p" tone="critical">{s.error}</Text> : null}
          </BlockStack>
        ) : null}
        <InlineStack>
          <Button onClick={() => void resync()} loading={starting} disabled={s ? open(s) : false}>
            Resync customers
          </Button>
        </InlineStack>
      </BlockStack>
    </Card>
  );
}
