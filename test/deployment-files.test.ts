import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REQUIRED_SECRETS } from '../lib/production-config';
import { CLOSE_GRACE_MS } from '../lib/shutdown';
import { ROOT, startCommand } from '../scripts/lib/stack';

// The container image and the compose stack, checked as files: no container
// engine runs where the suite runs (the production start itself is proved by
// scripts/production-build-check.ts and test/graceful-shutdown.int.test.ts).

const read = (f: string): string => readFileSync(path.join(ROOT, f), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  stop_signal?: string;
  stop_grace_period?: string;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

describe('Dockerfile', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = lines.reduce<string[][]>((acc, l) => (l.startsWith('FROM ') ? [...acc, [l]] : acc.length ? [...acc.slice(0, -1), [...(acc.at(-1) ?? []), l]] : acc), []);
  const runtime = stages.at(-1) ?? [];
  const find = (stage: string[], instr: string): string[] => stage.filter((l) => l.startsWith(`${instr} `));

  it('is multi-stage on node:20-bookworm-slim: the build has every dependency, the runtime only production ones', () => {
    expect(lines).toContain('ARG NODE_IMAGE=node:20-bookworm-slim');
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.every((s) => s[0]?.startsWith('FROM ${NODE_IMAGE}'))).toBe(true);
    const build = stages.find((s) => s[0]?.endsWith(' AS build')) ?? [];
    expect(build).toEqual(expect.arrayContaining(['RUN npm ci --no-audit --no-fund', 'RUN npm run build']));
    const deps = stages.find((s) => s[0]?.endsWith(' AS deps')) ?? [];
    expect(find(deps, 'RUN').join(' ')).toMatch(/npm ci --omit=dev --omit=optional --ignore-scripts/);
    expect(find(runtime, 'COPY')).toEqual(expect.arrayContaining(['COPY --from=deps /app/node_modules ./node_modules', 'COPY --from=build /app/dist ./dist']));
    expect(find(runtime, 'RUN')).toEqual([]);
  });

  it('runs as a non-root user, with NODE_ENV=production, a HEALTHCHECK, STOPSIGNAL SIGTERM and the api by default', () => {
    const user = find(runtime, 'USER');
    expect(user).toHaveLength(1);
    expect(user[0]).not.toMatch(/USER (root|0)(:|$)/);
    expect(runtime).toContain('ENV NODE_ENV=production');
    expect(find(runtime, 'HEALTHCHECK').join(' ')).toMatch(/CMD \["node", "-e", ".*\/health/);
    expect(runtime).toContain('STOPSIGNAL SIGTERM');
    const cmd = JSON.parse(find(runtime, 'CMD')[0]!.slice(4)) as string[];
    expect(cmd).toEqual(['node', ...startCommand('api').nodeArgs, startCommand('api').dist]);
  });

  it('.dockerignore keeps installs, builds and secrets out of the context', () => {
    const ignored = read('.dockerignore').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.env', '.git']));
  });
});

describe('docker-compose.yml', () => {
  const stack = ['migrate', 'api', 'worker', 'links', 'prometheus', 'grafana'];

  it('keeps postgres and redis for development (no profile) and puts the whole stack behind --profile stack', () => {
    expect(services.postgres?.profiles).toBeUndefined();
    expect(services.redis?.profiles).toBeUndefined();
    for (const name of stack) expect(services[name]?.profiles).toEqual(['stack']);
  });

  it('health-checks every long-running service and starts the api and the worker after migrations on healthy stores', () => {
    for (const name of ['postgres', 'redis', 'api', 'worker', 'links', 'prometheus', 'grafana']) expect(services[name]?.healthcheck?.test?.length).toBeGreaterThan(1);
    expect(services.links?.depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' } });
    for (const name of ['api', 'worker']) {
      expect(services[name]?.depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' }, redis: { condition: 'service_healthy' } });
    }
    expect(services.migrate?.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
  });

  it('runs the api and the worker as their start scripts do, from the one image, stopped gracefully within the drain bound', () => {
    expect(services.api?.command).toEqual(['node', ...startCommand('api').nodeArgs, startCommand('api').dist]);
    expect(services.worker?.command).toEqual(['node', ...startCommand('worker').nodeArgs, startCommand('worker').dist]);
    expect(services.links?.command).toEqual(['node', ...startCommand('links').nodeArgs, startCommand('links').dist]);
    for (const name of ['api', 'worker', 'links']) {
      const s = services[name]!;
      expect(s.build).toBe('.');
      expect(s.stop_signal).toBe('SIGTERM');
      const graceMs = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1]) * 1000;
      expect(graceMs).toBeGreaterThanOrEqual(10_000 + CLOSE_GRACE_MS);
    }
  });

  it('gives the api and the worker every variable production requires, secrets only as ${NAME:?…} placeholders filled from .env', () => {
    for (const name of ['api', 'worker'] as const) {
      const env = services[name]!.environment!;
      expect(env.NODE_ENV).toBe('production');
      expect(env.SMS_PROVIDER).toBe('mitto');
      for (const v of ['PUBLIC_BASE_URL', 'SMS_PROVIDER_URL', ...REQUIRED_SECRETS.api, ...REQUIRED_SECRETS.worker]) {
        expect([v, env[v]]).toEqual([v, expect.stringMatching(new RegExp(`^\\$\\{${v}:\\?[^}]+\\}$`))]);
      }
    }
    expect(read('docker-compose.yml')).not.toMatch(/(sk_live|whsec|shpss)_[A-Za-z0-9]/);
  });

  it('runs Prometheus with the project rules, scraping both with METRICS_TOKEN, and Grafana with the dashboard provisioned', () => {
    const prom = services.prometheus!;
    expect(prom.volumes).toEqual(expect.arrayContaining(['./docs/observability/alerts.yml:/etc/prometheus/alerts.yml:ro']));
    const promConfig = parse(read('deploy/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; authorization?: { credentials_file?: string }; static_configs: { targets: string[] }[] }[];
    };
    expect(promConfig.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    expect(promConfig.scrape_configs.map((s) => [s.job_name, s.static_configs[0]?.targets, s.authorization?.credentials_file])).toEqual([
      ['api', ['api:3000'], '/tmp/metrics-token'],
      ['worker', ['worker:3001'], '/tmp/metrics-token'],
      ['links', ['links:3002'], '/tmp/metrics-token'],
    ]);
    expect(prom.environment?.METRICS_TOKEN).toMatch(/^\$\{METRICS_TOKEN:\?/);

    const grafana = services.grafana!;
    expect(grafana.volumes).toEqual(expect.arrayContaining(['./docs/observability/dashboard.json:/var/lib/grafana/dashboards/sms-backend.json:ro']));
    const providers = parse(read('deploy/grafana/dashboards.yml')) as { providers: { options: { path: string } }[] };
    expect(providers.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
    const sources = parse(read('deploy/grafana/datasources.yml')) as { datasources: { type: string; url: string; isDefault: boolean }[] };
    expect(sources.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })]);
    expect(grafana.environment?.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
  });
});
