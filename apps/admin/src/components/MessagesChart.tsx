import { BlockStack, InlineStack, Text } from '@shopify/polaris';
import { useId } from 'react';
import type { CampaignTimeseries, TimeseriesPoint } from '../api/types';
import { num } from '../format';

// Messages over time as an SVG line chart: Polaris has no chart, and one of
// three lines does not justify a charting library on the campaign page. For
// screen readers the figure is an image with a summary, and the numbers are
// a (visually hidden) table.

type Key = 'sent' | 'delivered' | 'failed';

const SERIES: { key: Key; label: string; color: string; dash?: string }[] = [
  { key: 'sent', label: 'Sent', color: 'var(--p-color-bg-fill-info-active, #0094d5)' },
  { key: 'delivered', label: 'Delivered', color: 'var(--p-color-bg-fill-success, #29845a)', dash: '6 3' },
  { key: 'failed', label: 'Failed', color: 'var(--p-color-bg-fill-critical, #e51c00)' },
];

const VISUALLY_HIDDEN = { position: 'absolute', width: 1, height: 1, margin: -1, padding: 0, overflow: 'hidden', clip: 'rect(0 0 0 0)', whiteSpace: 'nowrap', border: 0 } as const;

const W = 640;
const H = 200;
const PAD = { left: 44, right: 12, top: 12, bottom: 28 };

/** A round upper bound for the y axis (1, 2, 5 × 10ⁿ). */
function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

function timeLabel(iso: string, bucketSeconds: number): string {
  const d = new Date(iso);
  if (bucketSeconds >= 86_400) return d.toLocaleDateString('en-US', { month: 'short', day: 'numeric' });
  if (bucketSeconds >= 3600) return d.toLocaleString('en-US', { month: 'short', day: 'numeric', hour: 'numeric' });
  return d.toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit', second: bucketSeconds < 60 ? '2-digit' : undefined });
}

function widthLabel(s: number): string {
  if (s % 86_400 === 0) return `${s / 86_400} day${s === 86_400 ? '' : 's'}`;
  if (s % 3600 === 0) return `${s / 3600} hour${s === 3600 ? '' : 's'}`;
  if (s % 60 === 0) return `${s / 60} minute${s === 60 ? '' : 's'}`;
  return `${s} second${s === 1 ? '' : 's'}`;
}

const total = (points: TimeseriesPoint[], k: Key): number => points.reduce((n, p) => n + p[k], 0);

export function MessagesChart({ series }: { series: CampaignTimeseries }) {
  const id = useId();
  const { points, bucketSeconds } = series;
  if (points.length === 0 || bucketSeconds === null) {
    return (
      <Text as="p" tone="subdued">
        The chart starts when the campaign starts sending.
      </Text>
    );
  }
  const max = niceMax(Math.max(...points.flatMap((p) => [p.sent, p.delivered, p.failed])));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  // One point per bucket, at its middle; a single bucket is a dot in the middle.
  const x = (i: number) => PAD.left + (points.length === 1 ? innerW / 2 : (i / (points.length - 1)) * innerW);
  const y = (v: number) => PAD.top + innerH - (v / max) * innerH;
  const ticks = [0, max / 2, max];
  const labelAt = [...new Set([0, Math.floor((points.length - 1) / 2), points.length - 1])];
  const totals = Object.fromEntries(SERIES.map((s) => [s.key, total(points, s.key)])) as Record<Key, number>;
  const summary = `Messages per ${widthLabel(bucketSeconds)} from ${timeLabel(points[0]!.at, bucketSeconds)} to ${timeLabel(points[points.length - 1]!.at, bucketSeconds)}: ${SERIES.map((s) => `${num(totals[s.key])} ${s.label.toLowerCase()}`).join(', ')}.`;

  return (
    <BlockStack gap="200">
      <InlineStack gap="400" blockAlign="center">
        {SERIES.map((s) => (
          <InlineStack key={s.key} gap="100" blockAlign="center">
            <svg width="18" height="10" aria-hidden="true" focusable="false">
              <line x1="0" y1="5" x2="18" y2="5" stroke={s.color} strokeWidth="3" strokeDasharray={s.dash} />
            </svg>
            <Text as="span" variant="bodySm">
              {s.label} <span data-testid={`chart-total-${s.key}`}>{num(totals[s.key])}</span>
            </Text>
          </InlineStack>
        ))}
        <Text as="span" variant="bodySm" tone="subdued">
          per {widthLabel(bucketSeconds)}
        </Text>
      </InlineStack>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-labelledby={`${id}-title ${id}-desc`} data-testid="messages-chart" data-points={points.length}>
        <title id={`${id}-title`}>Messages over time</title>
        <desc id={`${id}-desc`}>{summary}</desc>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} stroke="var(--p-color-border-secondary, #ebebeb)" strokeWidth="1" />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" fontSize="11" fill="var(--p-color-text-secondary, #616161)">
              {num(t)}
            </text>
          </g>
        ))}
        {labelAt.map((i) => (
          <text key={i} x={x(i)} y={H - 8} textAnchor={i === 0 && points.length > 1 ? 'start' : i === points.length - 1 && points.length > 1 ? 'end' : 'middle'} fontSize="11" fill="var(--p-color-text-secondary, #616161)">
            {timeLabel(points[i]!.at, bucketSeconds)}
          </text>
        ))}
        {SERIES.map((s) => (
          <g key={s.key}>
            {points.length > 1 ? (
              <polyline
                points={points.map((p, i) => `${x(i).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(' ')}
                fill="none"
                stroke={s.color}
                strokeWidth="2"
                strokeDasharray={s.dash}
                strokeLinejoin="round"
              />
            ) : null}
            {points.length <= 60
              ? points.map((p, i) => (p[s.key] > 0 || points.length === 1 ? <circle key={p.at} cx={x(i)} cy={y(p[s.key])} r="2.5" fill={s.color} /> : null))
              : null}
          </g>
        ))}
      </svg>
      <table style={VISUALLY_HIDDEN}>
        <caption>Messages per {widthLabel(bucketSeconds)}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            {SERIES.map((s) => (
              <th key={s.key} scope="col">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {points.map((p) => (
            <tr key={p.at}>
              <th scope="row">{timeLabel(p.at, bucketSeconds)}</th>
              {SERIES.map((s) => (
                <td key={s.key}>{p[s.key]}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </BlockStack>
  );
}
