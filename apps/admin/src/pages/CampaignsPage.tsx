import { BlockStack, Button, Card, EmptyState, IndexTable, Modal, Page, Text } from '@shopify/polaris';
import { useRef, useState } from 'react';
import { api, ApiError, newIdempotencyKey, type Page as ListPage } from '../api/client';
import type { Campaign, CampaignStatus, Shop } from '../api/types';
import { describeAudience } from '../audience';
import { performanceSummary } from '../components/CampaignPerformanceCard';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { StatusBadge } from '../components/StatusBadge';
import { dateTime } from '../format';
import { useApi } from '../hooks';
import { href, useRouter } from '../router';
import { CursorPager } from '../components/CursorPager';
import { StatusFilter } from '../components/StatusFilter';

const FILTERS: { label: string; value: '' | CampaignStatus }[] = [
  { label: 'All', value: '' },
  { label: 'Draft', value: 'draft' },
  { label: 'Scheduled', value: 'scheduled' },
  { label: 'Queued', value: 'queued' },
  { label: 'Sending', value: 'sending' },
  { label: 'Completed', value: 'completed' },
  { label: 'Cancelled', value: 'cancelled' },
  { label: 'Failed', value: 'failed' },
];

const PAGE_SIZE = 20;

const capitalised = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export default function CampaignsPage() {
  const { navigate } = useRouter();
  const [status, setStatus] = useState<'' | CampaignStatus>('');
  // The cursors of the pages before this one (the api pages forward only).
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (status) q.set('status', status);
  if (cursor) q.set('cursor', cursor);
  const page = useApi<ListPage<Campaign>>(`/campaigns?${q.toString()}`, { pollMs: 5000 });
  const rows = page.data?.data ?? [];
  // Order filters' days are the shop's (as the composer set them).
  const shop = useApi<Shop>('/shop');
  // The draft about to be deleted and the key of that one intent (reused by the client's retries).
  const [toDelete, setToDelete] = useState<{ campaign: Campaign; key: string } | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const inFlight = useRef(false);
  const deleteDraft = async () => {
    if (!toDelete || inFlight.current) return;
    inFlight.current = true;
    setDeleting(true);
    try {
      await api<void>('DELETE', `/campaigns/${toDelete.campaign.id}`, { idempotencyKey: toDelete.key });
    } catch (err) {
      // Already gone (deleted in another tab) is what was asked for.
      if (!(err instanceof ApiError && err.status === 404)) setDeleteError(err);
    } finally {
      inFlight.current = false;
      setDeleting(false);
      setToDelete(null);
      page.reload();
    }
  };

  return (
    <Page title="Campaigns" primaryAction={{ content: 'Create campaign', url: href('/campaigns/new') }}>
      <BlockStack gap="400">
        {page.error ? <ApiErrorBanner error={page.error} /> : null}
        {deleteError ? <ApiErrorBanner error={deleteError} onDismiss={() => setDeleteError(null)} /> : null}
        <Card padding="0">
          <StatusFilter
            options={FILTERS}
            value={status}
            onChange={(v) => {
              setStatus(v);
              setCursors([]);
            }}
          />
          {page.data && rows.length === 0 && !cursor ? (
            <EmptyState heading={status ? 'No campaign with this status' : 'Send your first campaign'} image="" action={{ content: 'Create campaign', url: href('/campaigns/new') }}>
              <p>Write a message, choose who receives it, and follow every delivery live.</p>
            </EmptyState>
          ) : (
            <IndexTable
              resourceName={{ singular: 'campaign', plural: 'campaigns' }}
              itemCount={rows.length}
              selectable={false}
              loading={page.loading && !page.data}
              headings={[{ title: 'Name' }, { title: 'Status' }, { title: 'Audience' }, { title: 'Created' }, { title: 'Results' }, { title: 'Actions', hidden: true }]}
            >
              {rows.map((c, i) => (
                <IndexTable.Row
                  key={c.id}
                  id={c.id}
                  position={i}
                  onClick={() => navigate(c.status === 'draft' ? `/campaigns/${c.id}/edit` : `/campaigns/${c.id}`)}
                >
                  <IndexTable.Cell>
                    <Button variant="plain" url={href(c.status === 'draft' ? `/campaigns/${c.id}/edit` : `/campaigns/${c.id}`)}>
                      {c.name}
                    </Button>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <StatusBadge status={c.status} />
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    {/* Every filter: a campaign narrowed by its orders is not sent to all subscribers. */}
                    <Text as="span">{capitalised(describeAudience(c.audience, shop.data?.timezone))}</Text>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <Text as="span">{dateTime(c.createdAt)}</Text>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <Text as="span" tone="subdued">
                      {c.status === 'draft' ? '—' : performanceSummary(c)}
                    </Text>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    {c.status === 'draft' ? (
                      // The row opens the draft; this button must not.
                      <div onClick={(e) => e.stopPropagation()}>
                        <Button variant="plain" tone="critical" accessibilityLabel={`Delete draft ${c.name}`} onClick={() => setToDelete({ campaign: c, key: newIdempotencyKey() })}>
                          Delete
                        </Button>
                      </div>
                    ) : null}
                  </IndexTable.Cell>
                </IndexTable.Row>
              ))}
            </IndexTable>
          )}
          <CursorPager cursors={cursors} setCursors={setCursors} nextCursor={page.data?.nextCursor} />
        </Card>
      </BlockStack>
      <Modal
        open={toDelete !== null}
        onClose={() => (deleting ? undefined : setToDelete(null))}
        title="Delete this draft?"
        primaryAction={{ content: 'Delete draft', destructive: true, onAction: () => void deleteDraft(), loading: deleting }}
        secondaryActions={[{ content: 'Keep draft', onAction: () => setToDelete(null), disabled: deleting }]}
      >
        <Modal.Section>
          <Text as="p">“{toDelete?.campaign.name}” will be deleted. This cannot be undone.</Text>
        </Modal.Section>
      </Modal>
    </Page>
  );
}
