import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HELP } from '../scripts/ops/cli';
import { parse } from 'yaml';

// "No command in a runbook that does not exist": every `npm run ops -- X`
// names a command of the CLI, every `npm run <script>` exists, and every alert
// links a runbook that exists and covers the required sections.

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'docs', 'runbooks');
const runbooks = readdirSync(dir).filter((f) => f.endsWith('.md') && f !== 'README.md');
const opsCommands = new Set([...HELP.matchAll(/^ {2}([a-z]+(?::[a-z]+)?)\b/gm)].map((m) => m[1]));
const scripts = Object.keys((JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);

it('has the runbooks the on-call rotation needs', () => {
  expect(runbooks.sort()).toEqual(['credit-reconciliation.md', 'flow-backlog.md', 'link-clicks.md', 'outbox.md', 'provider-outage.md', 'recipient-retention.md', 'redis-cluster-node-failure.md', 'redis-outage.md', 'shopify-access-tokens.md', 'stuck-campaigns.md', 'webhook-failures.md']);
});

it.each(runbooks)('%s uses only commands that exist', (file) => {
  const text = readFileSync(path.join(dir, file), 'utf8');
  const ops = [...text.matchAll(/npm run ops -- ([a-z]+(?::[a-z]+)?)/g)].map((m) => m[1]);
  expect(ops.length).toBeGreaterThan(0);
  for (const cmd of ops) expect(opsCommands).toContain(cmd);
  for (const m of text.matchAll(/npm run ([a-z:]+)/g)) expect(scripts).toContain(m[1]);
});

it.each(runbooks)('%s has symptom/alert, what to look at, diagnosis, fix, verification and escalation', (file) => {
  const text = readFileSync(path.join(dir, file), 'utf8');
  for (const heading of [/^## Alerts?$/m, /^## Look at$/m, /^## Diagnose$/m, /^## Fix$/m, /^## Verify$/m, /^## Escalate$/m]) expect(text).toMatch(heading);
});

it('every alert rule links a runbook that exists', () => {
  const rules = parse(readFileSync(path.join(root, 'docs', 'observability', 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; annotations: { runbook_url: string } }[] }[] };
  const all = rules.groups.flatMap((g) => g.rules);
  expect(all.length).toBeGreaterThanOrEqual(7);
  for (const r of all) expect(runbooks.map((f) => `docs/runbooks/${f}`)).toContain(r.annotations.runbook_url);
});
