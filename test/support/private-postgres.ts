import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

// A throwaway PostgreSQL 15 cluster of one's own (temp directory, free port, trust auth) that
// a fault test may stop, restart and crash without touching the shared server on :5432.

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
const INITDB = path.join(BIN, 'initdb');
const PG_CTL = path.join(BIN, 'pg_ctl');

/** `fast`: sessions are terminated, a clean checkpoint; `immediate`: a crash, recovery on start. */
export type StopMode = 'fast' | 'immediate';

export interface PrivatePostgres {
  readonly port: number;
  readonly dataDir: string;
  /** `postgres://postgres@127.0.0.1:PORT/<database>`. */
  url(database?: string): string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Starts the server and resolves once it accepts connections. */
  start(): Promise<void>;
  stop(mode?: StopMode): Promise<void>;
  /** `pg_ctl restart -m MODE`; resolves once the server accepts connections again. */
  restart(mode?: StopMode): Promise<void>;
  /** The server's log so far (for a failure message). */
  log(): string;
  /** Stops the server (immediate) and deletes the cluster. */
  remove(): Promise<void>;
}

/** Why a private cluster cannot be made here, or undefined when it can. */
export function privatePostgresSkipReason(): string | undefined {
  if (!fs.existsSync(INITDB) || !fs.existsSync(PG_CTL))
    return `PostgreSQL 15 binaries not found (${INITDB}); install postgresql-15 to run this`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
      execFileSync('runuser', ['--help'], { stdio: 'ignore' });
    } catch {
      return 'running as root, but there is no postgres user or no runuser to run initdb as';
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** PostgreSQL refuses to run as root: run its tools as the postgres user then. */
function asPostgres(file: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
}

async function tool(file: string, args: string[]): Promise<void> {
  const [cmd, argv] = asPostgres(file, args);
  try {
    await run(cmd, argv, { timeout: 120_000 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${path.basename(file)} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

const live = new Set<string>();
// A test or script that dies must not leave a postmaster behind.
process.once('exit', () => {
  for (const dir of live) {
    const [cmd, argv] = asPostgres(PG_CTL, ['stop', '-D', dir, '-m', 'immediate', '-w']);
    try {
      execFileSync(cmd, argv, { stdio: 'ignore', timeout: 10_000 });
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

/** Creates and starts a private cluster; throws when {@link privatePostgresSkipReason} says why not. */
export async function createPrivatePostgres(): Promise<PrivatePostgres> {
  const reason = privatePostgresSkipReason();
  if (reason) throw new Error(reason);
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'movticket-pg-'));
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'postgres.log');
  const port = await freePort();
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await fsp.chown(root, uid, gid);
  }
  await tool(INITDB, ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  // The socket goes into the cluster's own directory so it never meets the shared server's.
  await fsp.appendFile(
    path.join(dataDir, 'postgresql.conf'),
    [
      '',
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${root}'`,
      'max_connections = 60',
      'shared_buffers = 32MB',
      '',
    ].join('\n'),
  );
  const ctl = (args: string[]) => tool(PG_CTL, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', ...args]);
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let running = false;
  const cluster: PrivatePostgres = {
    port,
    dataDir,
    url,
    createDatabase: async (name) => {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`create database ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    start: async () => {
      await ctl(['start']);
      running = true;
      live.add(dataDir);
    },
    stop: async (mode = 'fast') => {
      await ctl(['stop', '-m', mode]);
      running = false;
    },
    restart: async (mode = 'fast') => {
      await ctl(['restart', '-m', mode]);
      running = true;
    },
    log: () => {
      try {
        return fs.readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    remove: async () => {
      if (running) await ctl(['stop', '-m', 'immediate']).catch(() => {});
      running = false;
      live.delete(dataDir);
      await fsp.rm(root, { recursive: true, force: true });
    },
  };
  try {
    await cluster.start();
  } catch (err) {
    await fsp.rm(root, { recursive: true, force: true });
    throw err;
  }
  return cluster;
}
