import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../lib/config';
import { existsSync } from 'node:fs';
import { CpuMeter, freePort, freePorts, parseStartScript, pidsWithEnv, processTree, procUsage, redisPidFromInfo, ROOT, RUN_ID_ENV, SERVICE_NODE_ARGS, sleep, Stack, stackEnv, startCommand } from './stack';

describe('scripts/lib/stack', () => {
  it('reads CPU time and memory of a process from /proc', () => {
    const u = procUsage(process.pid);
    expect(u).not.toBeNull();
    expect(u!.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(u!.peakRssBytes).toBeGreaterThanOrEqual(u!.rssBytes);
    expect(u!.cpuSeconds).toBeGreaterThan(0);
    expect(procUsage(2 ** 22 + 1)).toBeNull();
  });

  it('finds a child by its tree and by the run id in its environment, and charges its CPU', async () => {
    const runId = `t${process.pid}`;
    // Burns 300 ms of its own CPU, however long a loaded machine makes that take, then idles.
    const child = spawn(process.execPath, ['-e', 'const s = process.cpuUsage(); while (process.cpuUsage(s).user < 300000); setTimeout(() => {}, 30000)'], {
      env: { ...process.env, [RUN_ID_ENV]: runId },
      stdio: 'ignore',
    });
    try {
      const meter = new CpuMeter(() => [child.pid!]);
      await meter.sample();
      // Sampled until the burn shows (bounded): a wall-clock wait undercounted it when other suites held the cores.
      for (const deadline = Date.now() + 15_000; meter.seconds() <= 0.1 && Date.now() < deadline; ) {
        await sleep(100);
        await meter.sample();
      }
      expect(processTree(process.pid)).toContain(child.pid);
      expect(pidsWithEnv(RUN_ID_ENV, runId)).toEqual([child.pid]);
      expect(meter.seconds()).toBeGreaterThan(0.1);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    expect(pidsWithEnv(RUN_ID_ENV, runId)).toEqual([]);
  });

  it('starts services as package.json start scripts do: exec node, its flags, the compiled entry of an existing source', () => {
    for (const kind of ['api', 'worker', 'sms-simulator'] as const) {
      const cmd = startCommand(kind);
      expect(cmd.dist).toMatch(/^dist\/apps\/.+\.js$/);
      expect(existsSync(path.join(ROOT, cmd.source))).toBe(true);
      expect(SERVICE_NODE_ARGS[kind]).toEqual(cmd.nodeArgs);
    }
    expect(SERVICE_NODE_ARGS.worker).toEqual(['--max-old-space-size=192', '--max-semi-space-size=32']);
    expect(parseStartScript('exec node --a=1 dist/x/y.js')).toEqual({ nodeArgs: ['--a=1'], dist: 'dist/x/y.js', source: 'x/y.ts' });
    expect(() => parseStartScript('tsx apps/api/src/server.ts')).toThrow(/exec node/);
    expect(() => parseStartScript('node dist/a.js && rm -rf /')).toThrow(/exec node/);
  });

  it('never hands out one port twice, within a call or across calls', async () => {
    const first = await freePorts(5);
    const more = [...first, ...(await freePorts(5)), await freePort(), await freePort()];
    expect(new Set(more).size).toBe(more.length);
    for (const port of more) expect(port).toBeGreaterThan(0);
  });

  it('parses the redis-server pid from INFO server', () => {
    expect(redisPidFromInfo('# Server\r\nredis_version:7.0.15\r\nprocess_id:2205\r\n')).toBe(2205);
    expect(redisPidFromInfo('# Server\r\n')).toBeNull();
  });

  it('starts a service in its own process group, waits for /health and stops it without leaving anything behind', async () => {
    const runId = `s${process.pid}`;
    const [apiPort, simPort] = await freePorts(2);
    const env = stackEnv({ runId, label: 'test', apiPort, simPort, extra: { LOG_LEVEL: 'silent' } });
    const stack = new Stack(runId, env, parseConfig(env), mkdtempSync(path.join(tmpdir(), 'stack-test-')), { api: apiPort, simulator: simPort });
    const sim = stack.startService('sms-simulator', 'sms-simulator', simPort);
    try {
      await stack.waitHealthy(sim, Date.now() + 20_000);
      expect(stack.usage(sim)!.rssBytes).toBeGreaterThan(0);
      expect(stack.orphans()).toContain(sim.pid);
    } finally {
      await stack.stop();
    }
    expect(sim.exit).toBeDefined();
    expect(stack.failures).toEqual([]);
    expect(stack.orphans()).toEqual([]);
  });
});
