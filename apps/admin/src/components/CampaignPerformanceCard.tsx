import { BlockStack, Card, InlineGrid, Text } from '@shopify/polaris';
import type { CampaignPerformance } from '../api/types';
import { decimalMoney, num, revenueRates } from '../format';

function Figure({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <BlockStack gap="050">
      <Text as="span" variant="bodySm" tone="subdued">
        {label}
      </Text>
      <Text as="span" variant="headingLg">
        <span data-testid={testId}>{value}</span>
      </Text>
    </BlockStack>
  );
}

/** What a campaign earned: clicks on its short links and the orders attributed to it (docs/api.md, "Links, clicks and attribution"). */
export function CampaignPerformanceCard({ performance }: { performance: Partial<CampaignPerformance> | undefined }) {
  const p = performance;
  const revenue = p?.attributedRevenue ?? [];
  const dash = '—';
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          Results
        </Text>
        <InlineGrid columns={{ xs: 2, md: 5 }} gap="400">
          <Figure label="Clicks" value={p?.clicks === undefined ? dash : num(p.clicks)} testId="stat-clicks" />
          <Figure label="Unique clicks" value={p?.uniqueClicks === undefined ? dash : num(p.uniqueClicks)} testId="stat-unique-clicks" />
          <Figure label="Click rate" value={p?.clickRate == null ? dash : `${(p.clickRate * 100).toFixed(1)} %`} testId="stat-click-rate" />
          <Figure label="Orders" value={p?.attributedOrders === undefined ? dash : num(p.attributedOrders)} testId="stat-orders" />
          <Figure label="Revenue" value={revenue.length === 0 ? (p?.attributedOrders === undefined ? dash : '0') : revenue.map((r) => decimalMoney(r.amount, r.currency)).join(' + ')} testId="stat-revenue" />
        </InlineGrid>
        {revenue.map((r) => (
          <Text key={r.currency} as="p" tone="subdued">
            {revenueRates(r)}
          </Text>
        ))}
        <Text as="p" variant="bodySm" tone="subdued">
          {p?.messagesSent === undefined ? '' : `Click rate and revenue per message are over the ${num(p.messagesSent)} texts sent, delivered or not. `}
          Link previews and bots are not counted. An order counts for the campaign its customer clicked last, else the one last delivered to them, within your attribution windows.
        </Text>
      </BlockStack>
    </Card>
  );
}

/** One line for the campaigns list: "12 clicks · 3 orders · $120.00". */
export function performanceSummary(p: Partial<CampaignPerformance> | undefined): string {
  if (!p || p.clicks === undefined) return '—';
  const revenue = (p.attributedRevenue ?? []).map((r) => decimalMoney(r.amount, r.currency)).join(' + ');
  return [`${num(p.clicks)} clicks`, `${num(p.attributedOrders ?? 0)} orders`, ...(revenue ? [revenue] : [])].join(' · ');
}
