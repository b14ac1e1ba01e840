import { BlockStack, Card, IndexTable, InlineGrid, SkeletonBodyText, Text } from '@shopify/polaris';
import type { FlowDetail, FlowStats } from '../api/flow-types';
import { num, revenueTotal } from '../format';

const EXIT_REASON: Record<string, string> = {
  order_placed: 'ordered',
  opted_out: 'opted out',
  contact_erased: 'erased',
  condition: 'condition not met',
  not_sendable: 'not textable',
  order_cancelled: 'order cancelled',
  order_refunded: 'order refunded in full',
  flow_deleted: 'flow deleted',
  shop_uninstalled: 'app uninstalled',
};

const SKIP_REASON: Record<string, string> = {
  frequency_cap: 'by smart sending',
  suppressed: 'suppressed',
  not_sendable: 'not textable',
  no_checkout_url: 'without a checkout link',
  empty_message: 'empty',
  too_long: 'too long to send',
  quiet_hours: 'never out of quiet hours',
};

const STEP_TYPE: Record<string, string> = { wait: 'Wait', send: 'Text', condition: 'Condition' };

/** `{order_placed: 3, opted_out: 1}` → "3 ordered, 1 opted out". */
function reasons(by: Record<string, number> | undefined, words: Record<string, string> = {}): string | undefined {
  const parts = Object.entries(by ?? {})
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${num(n)} ${words[k] ?? k.replace(/_/g, ' ')}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** "3 after a click": of the attributed orders, those whose customer clicked the flow's link. */
function byClick(s: FlowStats): string | undefined {
  return s.clickAttributedOrders === undefined ? undefined : `${num(s.clickAttributedOrders)} after a click`;
}

/** Unique clicks as a share of texts sent, and the previews and bots left out. */
function clickDetail(s: FlowStats): string | undefined {
  const parts = [s.messages.sent > 0 && s.uniqueClicks !== undefined ? `${((100 * s.uniqueClicks) / s.messages.sent).toFixed(1)}% of texts sent` : '', s.botClicks ? `${num(s.botClicks)} previews and bots not counted` : ''].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** "2 failed, 1 unknown": what went wrong with texts that were tried. */
function trouble(m: FlowStats['messages']): string | undefined {
  const parts = [m.failed && `${num(m.failed)} failed`, m.undelivered && `${num(m.undelivered)} undelivered`, m.unknown && `${num(m.unknown)} unknown`, m.sending && `${num(m.sending)} sending`].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function Metric({ label, value, detail, testId }: { label: string; value: number | string; detail?: string; testId?: string }) {
  return (
    <BlockStack gap="050">
      <Text as="span" variant="bodySm" tone="subdued">
        {label}
      </Text>
      <Text as="span" variant="headingMd">
        <span data-testid={testId}>{typeof value === 'number' ? num(value) : value}</span>
      </Text>
      {detail ? (
        <Text as="span" variant="bodySm" tone="subdued">
          {detail}
        </Text>
      ) : null}
    </BlockStack>
  );
}

/**
 * GET /api/flows/:id/stats: runs and texts for the flow and for each step.
 * Without it (an api that does not have it yet, or a failed read) the run
 * counts the flow's versions carry stand in.
 */
export function FlowStatsCard({ flow, stats, loading }: { flow: FlowDetail; stats: FlowStats | undefined; loading: boolean }) {
  const runs = flow.versions.reduce((t, v) => ({ active: t.active + v.runs.active, total: t.total + v.runs.total }), { active: 0, total: 0 });
  return (
    <Card padding="0">
      <BlockStack gap="300">
        <div style={{ padding: 'var(--p-space-400) var(--p-space-400) 0' }}>
          <BlockStack gap="300">
            <Text as="h2" variant="headingMd">
              Performance
            </Text>
            <div data-testid="flow-stats">
              {stats ? (
                <InlineGrid columns={{ xs: 2, md: 4 }} gap="300">
                  <Metric label="Runs started" value={stats.runs.started} testId="flow-runs-started" />
                  <Metric label="In progress" value={stats.runs.active} testId="flow-runs-active" />
                  <Metric label="Completed" value={stats.runs.completed} />
                  <Metric label="Exited" value={stats.runs.exited} detail={reasons(stats.runs.exitedByReason, EXIT_REASON)} />
                  <Metric label="Texts sent" value={stats.messages.sent} detail={trouble(stats.messages)} testId="flow-texts-sent" />
                  <Metric label="Delivered" value={stats.messages.delivered} />
                  <Metric label="Skipped" value={stats.messages.skipped} detail={reasons(stats.messages.skippedByReason, SKIP_REASON)} />
                  <Metric label="Credits spent" value={stats.messages.creditsSpent} />
                  {stats.clicks === undefined ? null : (
                    <>
                      <Metric label="Clicks" value={stats.clicks} detail={clickDetail(stats)} testId="flow-clicks" />
                      <Metric label="Unique clicks" value={stats.uniqueClicks ?? 0} detail="texts clicked at least once" testId="flow-unique-clicks" />
                    </>
                  )}
                  {stats.attributedOrders === undefined ? null : (
                    <>
                      <Metric label="Attributed orders" value={stats.attributedOrders} detail={byClick(stats)} />
                      <Metric
                        label="Revenue"
                        value={revenueTotal(stats.attributedRevenue)}
                        detail={stats.clickAttributedRevenue?.length ? `${revenueTotal(stats.clickAttributedRevenue)} after a click` : undefined}
                        testId="flow-revenue"
                      />
                    </>
                  )}
                </InlineGrid>
              ) : loading ? (
                <SkeletonBodyText lines={2} />
              ) : (
                <InlineGrid columns={{ xs: 2, md: 4 }} gap="300">
                  <Metric label="Runs started" value={runs.total} testId="flow-runs-started" />
                  <Metric label="In progress" value={runs.active} testId="flow-runs-active" />
                  <Metric label="Ended" value={runs.total - runs.active} />
                </InlineGrid>
              )}
            </div>
          </BlockStack>
        </div>
        {stats && stats.steps.length > 0 ? (
          <IndexTable
            resourceName={{ singular: 'step', plural: 'steps' }}
            itemCount={stats.steps.length}
            selectable={false}
            headings={[
              { title: 'Step' },
              { title: 'Due next', alignment: 'end' },
              { title: 'Exited here', alignment: 'end' },
              { title: 'Sent', alignment: 'end' },
              { title: 'Delivered', alignment: 'end' },
              { title: 'Skipped', alignment: 'end' },
              { title: 'Clicks', alignment: 'end' },
              { title: 'Credits', alignment: 'end' },
            ]}
          >
            {stats.steps.map((s, i) => (
              <IndexTable.Row key={s.index} id={String(s.index)} position={i}>
                <IndexTable.Cell>
                  {s.index + 1}. {s.type ? STEP_TYPE[s.type] : 'Older version'}
                </IndexTable.Cell>
                <IndexTable.Cell>
                  <Text as="span" alignment="end" numeric>
                    {num(s.runs.active)}
                  </Text>
                </IndexTable.Cell>
                <IndexTable.Cell>
                  <Text as="span" alignment="end" numeric>
                    {num(s.runs.exited)}
                  </Text>
                </IndexTable.Cell>
                <IndexTable.Cell>
                  <Text as="span" alignment="end" numeric>
                    {s.type === 'send' || s.messages.sent > 0 ? num(s.messages.sent) : '—'}
                  </Text>
                </IndexTable.Cell>
                <IndexTable.Cell>
                  <Text as="span" alignment="end" numeric>
                    {s.type === 'send' || s.messages.delivered > 0 ? num(s.messages.delivered) : '—'}
                  </Text>
                </IndexTable.Cell>
                <IndexTable.Cell>
                  <Text as="span" alignment="end" numeric>
                    {s.type === 'send' || s.messages.skipped > 0 ? num(s.messages.skipped) : '—'}
                  </Text>
                </IndexTable.Cell>
                <IndexTable.Cell>
                  <Text as="span" alignment="end" numeric>
                    <span data-testid={`flow-step-clicks-${s.index}`}>
                      {(s.type === 'send' || (s.clicks ?? 0) > 0) && s.clicks !== undefined ? `${num(s.clicks)} (${num(s.uniqueClicks ?? 0)} unique)` : '—'}
                    </span>
                  </Text>
                </IndexTable.Cell>
                <IndexTable.Cell>
                  <Text as="span" alignment="end" numeric>
                    {s.type === 'send' || s.messages.creditsSpent > 0 ? num(s.messages.creditsSpent) : '—'}
                  </Text>
                </IndexTable.Cell>
              </IndexTable.Row>
            ))}
          </IndexTable>
        ) : null}
        {stats && stats.steps.length > 0 ? (
          <div style={{ padding: '0 var(--p-space-400) var(--p-space-400)' }}>
            <Text as="p" variant="bodySm" tone="subdued">
              Due next: runs in progress whose next step is this one. Exited here: runs that ended before it (an order, a STOP, a condition not met). Clicks:
              taps on the text's links (each text's links are its own short links); link previews and bots are not counted.
            </Text>
          </div>
        ) : (
          <div />
        )}
      </BlockStack>
    </Card>
  );
}
