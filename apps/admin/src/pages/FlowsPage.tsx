import { BlockStack, Box, Button, Card, IndexTable, InlineGrid, InlineStack, Page, Text } from '@shopify/polaris';
import { useState } from 'react';
import type { Page as ListPage } from '../api/client';
import type { Flow, FlowStatus } from '../api/flow-types';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { CursorPager } from '../components/CursorPager';
import { FlowStatusBadge } from '../components/FlowStatusBadge';
import { TEMPLATES, triggerText } from '../flows';
import { dateTime, num } from '../format';
import { useApi } from '../hooks';
import { href, useRouter } from '../router';
import { StatusFilter } from '../components/StatusFilter';

const FILTERS: { label: string; value: '' | FlowStatus }[] = [
  { label: 'All', value: '' },
  { label: 'Draft', value: 'draft' },
  { label: 'Live', value: 'live' },
  { label: 'Paused', value: 'paused' },
];

const PAGE_SIZE = 20;

/** The three starting points, each opening the editor prefilled. */
function TemplateCards() {
  return (
    <InlineGrid columns={{ xs: 1, md: 3 }} gap="300">
      {TEMPLATES.map((t) => (
        <Box key={t.id} padding="400" borderWidth="025" borderColor="border" borderRadius="300">
          <BlockStack gap="200" inlineAlign="start">
            <Text as="h3" variant="headingSm">
              {t.title}
            </Text>
            <Text as="p" tone="subdued">
              {t.description}
            </Text>
            <Button url={href(`/flows/new?template=${t.id}`)} accessibilityLabel={`Use the ${t.title} template`}>
              Use template
            </Button>
          </BlockStack>
        </Box>
      ))}
    </InlineGrid>
  );
}

export default function FlowsPage() {
  const { navigate } = useRouter();
  const [status, setStatus] = useState<'' | FlowStatus>('');
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (status) q.set('status', status);
  if (cursor) q.set('cursor', cursor);
  const page = useApi<ListPage<Flow>>(`/flows?${q.toString()}`, { pollMs: 10_000 });
  const rows = page.data?.data ?? [];
  const none = page.data !== undefined && rows.length === 0 && !cursor && !status;

  return (
    <Page
      title="Flows"
      subtitle="Automated texts: welcome series, abandoned checkout, post-purchase"
      primaryAction={{ content: 'Create flow', url: href('/flows/new') }}
      actionGroups={none ? [] : [{ title: 'Start from a template', actions: TEMPLATES.map((t) => ({ content: t.title, url: href(`/flows/new?template=${t.id}`) })) }]}
    >
      <BlockStack gap="400">
        {page.error ? <ApiErrorBanner error={page.error} /> : null}
        {none ? (
          <Card>
            <BlockStack gap="400">
              <BlockStack gap="100">
                <Text as="h2" variant="headingLg">
                  Automate your texts
                </Text>
                <Text as="p" tone="subdued">
                  A flow texts each contact when something happens — they subscribe, leave a checkout or place an order — and stops when they buy or reply STOP. Start from a template, review its
                  steps, then activate it.
                </Text>
              </BlockStack>
              <TemplateCards />
              <InlineStack>
                <Button url={href('/flows/new')}>Start from scratch</Button>
              </InlineStack>
            </BlockStack>
          </Card>
        ) : (
          <Card padding="0">
            <StatusFilter
              options={FILTERS}
              value={status}
              onChange={(v) => {
                setStatus(v);
                setCursors([]);
              }}
            />
            <IndexTable
              resourceName={{ singular: 'flow', plural: 'flows' }}
              itemCount={rows.length}
              selectable={false}
              loading={page.loading && !page.data}
              emptyState={
                <Box padding="400">
                  <Text as="p" alignment="center" tone="subdued">
                    No flow with this status.
                  </Text>
                </Box>
              }
              headings={[{ title: 'Name' }, { title: 'Trigger' }, { title: 'Status' }, { title: 'Steps' }, { title: 'Runs in progress' }, { title: 'Created' }, { title: 'Updated' }]}
            >
              {rows.map((f, i) => (
                <IndexTable.Row key={f.id} id={f.id} position={i} onClick={() => navigate(`/flows/${f.id}`)}>
                  <IndexTable.Cell>
                    <Button variant="plain" url={href(`/flows/${f.id}`)}>
                      {f.name}
                    </Button>
                  </IndexTable.Cell>
                  <IndexTable.Cell>{triggerText(f.trigger)}</IndexTable.Cell>
                  <IndexTable.Cell>
                    <FlowStatusBadge status={f.status} />
                  </IndexTable.Cell>
                  <IndexTable.Cell>{num(f.currentVersion?.steps.length ?? 0)}</IndexTable.Cell>
                  <IndexTable.Cell>{num(f.activeRuns ?? 0)}</IndexTable.Cell>
                  <IndexTable.Cell>{dateTime(f.createdAt)}</IndexTable.Cell>
                  <IndexTable.Cell>{dateTime(f.updatedAt)}</IndexTable.Cell>
                </IndexTable.Row>
              ))}
            </IndexTable>
            <CursorPager cursors={cursors} setCursors={setCursors} nextCursor={page.data?.nextCursor} />
          </Card>
        )}
      </BlockStack>
    </Page>
  );
}
