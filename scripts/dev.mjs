// `npm run dev`: api + worker (+ simulator) with reload on change. Ctrl-C stops all.
import { spawn } from 'node:child_process';

const procs = [
  ['api', ['tsx', 'watch', 'apps/api/src/server.ts']],
  ['worker', ['tsx', 'watch', 'apps/worker/src/main.ts']],
  ['simulator', ['tsx', 'watch', 'apps/sms-simulator/src/main.ts']],
  // The admin rebuilds on every change (the api serves apps/admin/dist at /app, read per request): reload the page to see it.
  ['admin', ['vite', 'build', '--watch', '--config', 'apps/admin/vite.config.mts', '--mode', 'development']],
].map(([name, args]) => {
  const child = spawn('npx', ['--no-install', ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SERVICE_NAME: name } });
  child.on('exit', (code) => console.log(`[dev] ${name} exited with ${code}`));
  return child;
});

const stop = () => {
  for (const p of procs) p.kill('SIGTERM');
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
