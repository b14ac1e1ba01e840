// Private Redis and Postgres servers for the scenarios that stop them: child
// processes on free ports, in their own process groups (tracked by cleanup.ts),
// so restarting them never touches the developer's or CI's shared services.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { freePort, sleep, tail } from '../lib/stack';
import { killGroup } from '../lib/proc';
import { onTeardown, trackGroup, untrackGroup } from './cleanup';

class ServiceError extends Error {}

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
}

function spawnGroup(cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): Child {
  const stream = createWriteStream(log, { flags: 'a' });
  const proc = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  proc.stdout?.pipe(stream);
  proc.stderr?.pipe(stream);
  if (proc.pid === undefined) throw new ServiceError(`${cmd} did not start`);
  const pid = proc.pid;
  trackGroup(pid);
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      untrackGroup(pid);
      resolve();
    }),
  );
  return { proc, exited };
}

async function stopGroup(child: Child | undefined, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (!child?.proc.pid || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  killGroup(child.proc.pid, signal);
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  if ((await Promise.race([child.exited.then(() => 'ok' as const), timer])) === 'timeout') {
    killGroup(child.proc.pid, 'SIGKILL');
    await child.exited;
  }
  // Whatever the leader left in its group goes too.
  killGroup(child.proc.pid, 'SIGKILL');
}

/** Resolves true once `host:port` accepts a TCP connection, false after timeoutMs. */
async function waitPort(port: number, timeoutMs: number, open = true): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const isOpen = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (isOpen === open) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** A redis-server without persistence: a stop loses every key, as a real Redis restart without AOF/RDB would. */
export class PrivateRedis {
  private child?: Child;
  private constructor(
    readonly port: number,
    private readonly log: string,
  ) {}

  static async start(logDir: string): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), path.join(logDir, 'redis-server.log'));
    onTeardown('private redis-server', () => r.stop('SIGTERM'));
    await r.startAgain();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.proc.pid;
  }

  async startAgain(): Promise<void> {
    this.child = spawnGroup('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], this.log);
    if (!(await waitPort(this.port, 10_000))) throw new ServiceError(`redis-server did not listen on ${this.port}:\n${tail(this.log)}`);
  }

  /** SIGKILL by default: the outage is a crash, not a maintenance window. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await stopGroup(this.child, signal);
  }
}

/** The newest installed Postgres server binaries (Debian keeps them out of PATH). */
function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(base, versions[0], 'bin');
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    throw new ServiceError('no Postgres server binaries found (initdb): install postgresql');
  }
}

function postgresUid(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return null;
  }
}

/**
 * A throwaway Postgres cluster (initdb into /tmp) on a private port. Root may
 * not run Postgres, so as root it runs as the `postgres` user through runuser.
 * `fsync=off` is safe here: the data must survive a server crash, which it
 * does (the kernel keeps what was written), not a machine crash.
 */
export class PrivatePostgres {
  private child?: Child;
  private readonly asPostgres: boolean;
  private readonly bin = postgresBinDir();

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly log: string,
  ) {
    this.asPostgres = process.getuid?.() === 0;
  }

  static async start(logDir: string): Promise<PrivatePostgres> {
    const dir = mkdtempSync('/tmp/sms-chaos-pg-');
    const pg = new PrivatePostgres(await freePort(), path.join(dir, 'data'), path.join(logDir, 'postgres.log'));
    onTeardown('private postgres cluster', async () => {
      await pg.stop('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    });
    if (pg.asPostgres) {
      const ids = postgresUid();
      if (!ids) throw new ServiceError('running as root but there is no postgres user to run the private cluster as');
      chownSync(dir, ids.uid, ids.gid);
    }
    pg.run(path.join(pg.bin, 'initdb'), ['-D', pg.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await pg.startAgain();
    return pg;
  }

  /** Superuser URL of database `name` on this cluster. */
  url(name = 'postgres'): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${name}`;
  }

  private command(file: string, args: string[]): [string, string[]] {
    return this.asPostgres ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  }

  private run(file: string, args: string[]): void {
    const [cmd, full] = this.command(file, args);
    try {
      execFileSync(cmd, full, { stdio: 'pipe', cwd: '/tmp' });
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      throw new ServiceError(`${path.basename(file)} failed: ${e.stderr?.toString() || e.message}`);
    }
  }

  async startAgain(): Promise<void> {
    const [cmd, args] = this.command(path.join(this.bin, 'postgres'), [
      '-D', this.dataDir, '-p', String(this.port), '-k', path.dirname(this.dataDir),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200', '-c', 'log_min_messages=warning',
    ]);
    this.child = spawnGroup(cmd, args, this.log);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.child.proc.exitCode !== null) throw new ServiceError(`postgres exited at start:\n${tail(this.log)}`);
      const client = new Client({ connectionString: this.url(), connectionTimeoutMillis: 1_000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch {
        if (Date.now() > deadline) throw new ServiceError(`postgres did not accept connections on ${this.port}:\n${tail(this.log)}`);
        await sleep(100);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }

  /**
   * SIGQUIT = Postgres's "immediate" shutdown: every backend exits at once,
   * without a checkpoint, and the restart replays the WAL — a crash.
   */
  async stop(signal: NodeJS.Signals = 'SIGQUIT'): Promise<void> {
    await stopGroup(this.child, signal, 20_000);
    await waitPort(this.port, 5_000, false);
  }
}
