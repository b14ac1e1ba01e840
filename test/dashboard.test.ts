import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { createMetrics } from '../lib/metrics';

// The dashboard and the alert rules may only query metrics this code exports:
// a renamed metric must break this test, not a 3 a.m. page.

const root = path.resolve(__dirname, '..');
const PROMQL_WORDS = new Set(['sum', 'by', 'max', 'min', 'rate', 'increase', 'histogram_quantile', 'clamp_min', 'absent', 'or', 'and', 'le', 'without', 'on', 'unless']);

async function exported(): Promise<Set<string>> {
  const metrics = await createMetrics().registry.getMetricsAsJSON();
  const names = new Set<string>();
  for (const m of metrics) {
    names.add(m.name);
    for (const suffix of ['_bucket', '_count', '_sum']) names.add(`${m.name}${suffix}`);
  }
  return names;
}

function metricNames(expr: string): string[] {
  const withoutLabels = expr.replace(/\b\d+(\.\d+)?(e[-+]?\d+)?\b/gi, '').replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '').replace(/"[^"]*"/g, '');
  const words = withoutLabels.match(/[a-z_][a-z0-9_]*/g) ?? [];
  const labelLists = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => (m[1] ?? '').split(',').map((s) => s.trim()));
  return words.filter((w) => !PROMQL_WORDS.has(w) && !labelLists.includes(w));
}

it('every dashboard panel queries exported metrics', async () => {
  const names = await exported();
  const dash = JSON.parse(readFileSync(path.join(root, 'docs/observability/dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  expect(dash.panels.length).toBeGreaterThan(10);
  for (const p of dash.panels) for (const t of p.targets) for (const n of metricNames(t.expr)) expect({ panel: p.title, metric: n, known: names.has(n) }).toEqual({ panel: p.title, metric: n, known: true });
});

it('every alert rule queries exported metrics', async () => {
  const names = await exported();
  const rules = parse(readFileSync(path.join(root, 'docs/observability/alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  for (const r of rules.groups.flatMap((g) => g.rules)) for (const n of metricNames(r.expr)) expect({ alert: r.alert, metric: n, known: names.has(n) }).toEqual({ alert: r.alert, metric: n, known: true });
});
