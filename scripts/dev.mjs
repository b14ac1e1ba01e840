// `npm run dev`: api + worker (+ simulator) with reload on change, and the
// admin on Vite's dev server with hot module replacement. Ctrl-C stops all.
import { spawn } from 'node:child_process';

const apiPort = process.env.PORT ?? '3000';
const adminPort = process.env.ADMIN_DEV_PORT ?? '5173';

const procs = [
  ['api', ['tsx', 'watch', 'apps/api/src/server.ts']],
  ['worker', ['tsx', 'watch', 'apps/worker/src/main.ts']],
  ['simulator', ['tsx', 'watch', 'apps/sms-simulator/src/main.ts']],
  // Serves /app from the sources (an edit shows without a reload) and passes
  // /api and the dev sign-in to the api (apps/admin/vite.config.mts). The
  // api's own /app keeps serving the last build (apps/admin/dist).
  ['admin', ['vite', '--config', 'apps/admin/vite.config.mts', '--clearScreen', 'false']],
].map(([name, args]) => {
  const child = spawn('npx', ['--no-install', ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SERVICE_NAME: name } });
  child.on('exit', (code) => console.log(`[dev] ${name} exited with ${code}`));
  return child;
});

console.log(`[dev] admin with hot reload: http://127.0.0.1:${adminPort}/app/dev-login?shop=dev-shop.myshopify.com (api on :${apiPort})`);

const stop = () => {
  for (const p of procs) p.kill('SIGTERM');
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
