import { randomBytes } from 'node:crypto';
import { parseConfig } from '../lib/config';
import { productionEnv } from './lib/production-env';
import { portOpen, startService, waitForOk } from './lib/service-process';
import { clearQueues, freePort } from './lib/stack';

// CI's production start check (.ci/run): with NODE_ENV=production the api
// and the worker must refuse the repository's defaults (exit non-zero,
// nothing listening), and must start with proper, freshly generated secrets
// (answer /health, guard /metrics with the token), then stop on SIGTERM.
// Uses DATABASE_URL and REDIS_URL from the environment (or their defaults).

const REFUSE_WITHIN_MS = 20_000;
const PORT_VAR: Record<'api' | 'worker', string> = { api: 'PORT', worker: 'WORKER_METRICS_PORT' };

const base = parseConfig(process.env);
const prefix = `{prodcheck-${randomBytes(4).toString('hex')}}`;
const services = (name: 'api' | 'worker', port: number): Record<string, string> => ({
  DATABASE_URL: base.DATABASE_URL,
  REDIS_URL: base.REDIS_URL,
  QUEUE_PREFIX: prefix,
  [PORT_VAR[name]]: String(port),
});

async function refusesDefaults(name: 'api' | 'worker'): Promise<string | null> {
  const port = await freePort();
  const svc = startService(name, { ...services(name, port), NODE_ENV: 'production' });
  const outcome = await Promise.race([svc.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), REFUSE_WITHIN_MS).unref())]);
  if (outcome === 'running') {
    await svc.stop();
    return `${name} started with NODE_ENV=production and the development defaults`;
  }
  if (outcome.code === 0) return `${name} exited 0 instead of refusing the defaults`;
  if (await portOpen(port)) return `${name} left port ${port} open`;
  const problems = svc.stderr().split('\n').filter((l) => /^\s+- [A-Z_]+: /.test(l)).length;
  console.log(`ok   ${name} refuses the defaults (exit ${outcome.code}, ${problems} problems listed)`);
  return null;
}

async function startsWithSecrets(name: 'api' | 'worker'): Promise<string | null> {
  const port = await freePort();
  const env = productionEnv({ ...services(name, port), LOG_LEVEL: 'warn' });
  const svc = startService(name, env);
  try {
    await waitForOk(svc, `http://127.0.0.1:${port}/health`);
    const open = await fetch(`http://127.0.0.1:${port}/metrics`);
    const withToken = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${env.METRICS_TOKEN}` } });
    if (open.status !== 401 || withToken.status !== 200) return `${name} /metrics: ${open.status} without the token, ${withToken.status} with it (want 401, 200)`;
  } catch (err) {
    await svc.stop();
    return `${name} did not start with proper secrets: ${(err as Error).message}`;
  }
  const { code } = await svc.stop();
  if (code !== 0) return `${name} exited ${code} on SIGTERM`;
  console.log(`ok   ${name} starts with generated secrets, answers /health, /metrics needs the token, stops on SIGTERM`);
  return null;
}

async function main(): Promise<number> {
  const names = ['api', 'worker'] as const;
  // The two refusals run side by side, then the two starts: about 20 s on a small machine.
  const failures = [...(await Promise.all(names.map(refusesDefaults))), ...(await Promise.all(names.map(startsWithSecrets)))].filter((f): f is string => f !== null);
  await clearQueues(base.REDIS_URL, prefix).catch(() => undefined);
  for (const f of failures) console.error(`FAIL ${f}`);
  console.log(failures.length === 0 ? 'production start check: passed' : 'production start check: FAILED');
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`production start check failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
