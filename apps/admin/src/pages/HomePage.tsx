import { BlockStack, Box, Button, Card, CalloutCard, InlineGrid, InlineStack, Layout, Page, SkeletonBodyText, Text } from '@shopify/polaris';
import type { Page as ListPage } from '../api/client';
import type { Campaign, CampaignStats, Wallet } from '../api/types';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { CampaignProgress } from '../components/CampaignProgress';
import { IN_PROGRESS, StatusBadge } from '../components/StatusBadge';
import { dateTime, num } from '../format';
import { useApi } from '../hooks';
import { HOME_QUERIES } from '../home-queries';
import { href } from '../router';

function WalletFigure({ label, value, testId }: { label: string; value: number | undefined; testId: string }) {
  return (
    <BlockStack gap="100">
      <Text as="h3" variant="headingSm" tone="subdued">
        {label}
      </Text>
      <Text as="p" variant="headingLg">
        <span data-testid={testId}>{value === undefined ? '…' : num(value)}</span>
      </Text>
    </BlockStack>
  );
}

function InProgress({ campaign }: { campaign: Campaign }) {
  const stats = useApi<CampaignStats>(`/campaigns/${campaign.id}/stats`, { pollMs: 1000, keepPolling: (s) => IN_PROGRESS.includes(s.status) });
  const s = stats.data;
  return (
    <Box paddingBlock="200">
      <BlockStack gap="200">
        <InlineStack align="space-between" blockAlign="center">
          <Button variant="plain" url={href(`/campaigns/${campaign.id}`)}>
            {campaign.name}
          </Button>
          <StatusBadge status={s?.status ?? campaign.status} />
        </InlineStack>
        {s ? <CampaignProgress stats={s} label={`Progress of ${campaign.name}`} /> : <SkeletonBodyText lines={1} />}
        {s ? (
          <Text as="p" variant="bodySm" tone="subdued">
            {num(s.sent + s.delivered)} sent of {num(s.total)}
          </Text>
        ) : null}
      </BlockStack>
    </Box>
  );
}

const [WALLET, CAMPAIGNS, CONTACTS] = HOME_QUERIES;

export default function HomePage() {
  const wallet = useApi<Wallet>(WALLET, { pollMs: 5000 });
  const campaigns = useApi<ListPage<Campaign>>(CAMPAIGNS, { pollMs: 3000 });
  const contacts = useApi<ListPage<unknown>>(CONTACTS);
  const list = campaigns.data?.data ?? [];
  const running = list.filter((c) => IN_PROGRESS.includes(c.status));
  const recent = list.filter((c) => c.status === 'completed' || c.status === 'cancelled' || c.status === 'failed').slice(0, 5);
  const noContacts = contacts.data !== undefined && contacts.data.data.length === 0;
  const noCredits = wallet.data !== undefined && wallet.data.available <= 0;

  return (
    <Page title="Home" primaryAction={{ content: 'Create campaign', url: href('/campaigns/new') }}>
      <Layout>
        {wallet.error || campaigns.error ? (
          <Layout.Section>
            <ApiErrorBanner error={wallet.error ?? campaigns.error} />
          </Layout.Section>
        ) : null}
        {noCredits ? (
          <Layout.Section>
            <CalloutCard title="Buy credits to start sending" illustration="" primaryAction={{ content: 'Buy credits', url: href('/billing') }}>
              <p>Every SMS segment uses one credit. Your wallet is empty.</p>
            </CalloutCard>
          </Layout.Section>
        ) : null}
        {noContacts ? (
          <Layout.Section>
            <CalloutCard title="Add your first contacts" illustration="" primaryAction={{ content: 'Add contacts', url: href('/contacts') }}>
              <p>Campaigns go to contacts who agreed to receive SMS. Import them from a CSV file or add them one by one.</p>
            </CalloutCard>
          </Layout.Section>
        ) : null}
        <Layout.Section>
          <Card>
            <BlockStack gap="300">
              <Text as="h2" variant="headingMd">
                Credits
              </Text>
              <InlineGrid columns={3} gap="400">
                <WalletFigure label="Balance" value={wallet.data?.balance} testId="home-balance" />
                <WalletFigure label="Reserved" value={wallet.data?.reserved} testId="home-reserved" />
                <WalletFigure label="Available" value={wallet.data?.available} testId="home-available" />
              </InlineGrid>
            </BlockStack>
          </Card>
        </Layout.Section>
        <Layout.Section>
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingMd">
                In progress
              </Text>
              {campaigns.loading && !campaigns.data ? <SkeletonBodyText lines={2} /> : null}
              {campaigns.data && running.length === 0 ? (
                <Text as="p" tone="subdued">
                  No campaign is sending right now.
                </Text>
              ) : null}
              {running.map((c) => (
                <InProgress key={c.id} campaign={c} />
              ))}
            </BlockStack>
          </Card>
        </Layout.Section>
        <Layout.Section>
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingMd">
                Recent results
              </Text>
              {campaigns.data && recent.length === 0 ? (
                <Text as="p" tone="subdued">
                  Finished campaigns appear here.
                </Text>
              ) : null}
              {recent.map((c) => (
                <InlineStack key={c.id} align="space-between" blockAlign="center">
                  <Button variant="plain" url={href(`/campaigns/${c.id}`)}>
                    {c.name}
                  </Button>
                  <InlineStack gap="200" blockAlign="center">
                    <Text as="span" tone="subdued" variant="bodySm">
                      {dateTime(c.completedAt ?? c.updatedAt)}
                    </Text>
                    <StatusBadge status={c.status} />
                  </InlineStack>
                </InlineStack>
              ))}
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
    </Page>
  );
}
