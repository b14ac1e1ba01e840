import { BlockStack, Card, DataTable, InlineGrid, SkeletonBodyText, Text } from '@shopify/polaris';
import type { ApiError } from '../api/client';
import type { FlowDetail } from '../api/flow-types';
import { num } from '../format';

/** `exitedByReason` → "Exited by reason". */
function words(key: string): string {
  const s = key.replace(/_/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The numbers of a stats object, two levels deep, labelled from their keys (arrays are the per-step part, shown apart). */
export function metricsOf(value: unknown, prefix = '', depth = 0): [string, number][] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const label = prefix ? `${prefix} · ${words(k).toLowerCase()}` : words(k);
    if (typeof v === 'number') out.push([label, v]);
    else if (depth < 2 && v && typeof v === 'object' && !Array.isArray(v)) out.push(...metricsOf(v, label, depth + 1));
  }
  return out;
}

function Metric({ label, value }: { label: string; value: number }) {
  return (
    <BlockStack gap="050">
      <Text as="span" variant="bodySm" tone="subdued">
        {label}
      </Text>
      <Text as="span" variant="headingMd">
        {num(value)}
      </Text>
    </BlockStack>
  );
}

/**
 * GET /api/flows/:id/stats when the api has it (flow and per-step figures,
 * shown as they come); until then, or when it fails, the run counts the
 * flow's versions carry.
 */
export function FlowStatsCard({ flow, stats, statsError }: { flow: FlowDetail; stats: unknown; statsError?: ApiError | Error }) {
  const runs = flow.versions.reduce((t, v) => ({ active: t.active + v.runs.active, total: t.total + v.runs.total }), { active: 0, total: 0 });
  const totals = metricsOf(stats);
  const steps = stats && typeof stats === 'object' && Array.isArray((stats as { steps?: unknown }).steps) ? ((stats as { steps: unknown[] }).steps as unknown[]) : [];
  const stepColumns = [...new Set(steps.flatMap((s) => metricsOf(s).map(([l]) => l)))].filter((l) => l !== 'Step' && l !== 'Index');
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          Performance
        </Text>
        {stats === undefined && !statsError ? (
          <SkeletonBodyText lines={2} />
        ) : totals.length > 0 ? (
          <div data-testid="flow-stats">
            <InlineGrid columns={{ xs: 2, md: 4 }} gap="300">
              {totals.map(([label, value]) => (
                <Metric key={label} label={label} value={value} />
              ))}
            </InlineGrid>
          </div>
        ) : (
          <div data-testid="flow-stats">
            <InlineGrid columns={{ xs: 2, md: 4 }} gap="300">
              <Metric label="Runs started" value={runs.total} />
              <Metric label="Runs in progress" value={runs.active} />
              <Metric label="Runs ended" value={runs.total - runs.active} />
            </InlineGrid>
          </div>
        )}
        {steps.length > 0 && stepColumns.length > 0 ? (
          <DataTable
            columnContentTypes={['text', ...stepColumns.map(() => 'numeric' as const)]}
            headings={['Step', ...stepColumns]}
            rows={steps.map((s, i) => {
              const m = new Map(metricsOf(s));
              return [`Step ${i + 1}`, ...stepColumns.map((c) => num(m.get(c) ?? 0))];
            })}
          />
        ) : null}
      </BlockStack>
    </Card>
  );
}
