// A local highly available PostgreSQL cluster built from Debian packages: etcd, two PostgreSQL 15
// nodes under Patroni (one synchronous standby) and HAProxy sending connections to whichever node
// Patroni's REST API calls the primary. Everything listens on 127.0.0.1 only and lives in one
// directory; every process is a child with a pid file there, so `stop()` (or `cluster down` from
// another shell) can end exactly those processes. Used by `npm run cluster` and the failover drill.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const PORTS = {
  etcdClient: 12379,
  etcdPeer: 12380,
  /** HAProxy's front for the primary: what the application connects to. */
  primary: 15000,
  /** HAProxy's front for the movticket instances. */
  apps: 15080,
  /** The movticket instances behind it. */
  app: [15081, 15082],
  pg: [15432, 15433],
  rest: [18008, 18009],
} as const;
export const NODES = ['pg1', 'pg2'] as const;
export type NodeName = (typeof NODES)[number];
export const SCOPE = 'movticket';
/** What the application connects to (loopback, trust: a local exercise, see docs/deployment.md). */
export const DATABASE_URL = `postgres://postgres@127.0.0.1:${PORTS.primary}/movticket`;

const PACKAGES: Record<string, string> = {
  etcd: 'etcd-server',
  patroni: 'patroni',
  haproxy: 'haproxy',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn` every `everyMs` until it returns a value other than undefined, or throws after `ms`. */
export async function waitFor<T>(
  what: string,
  ms: number,
  fn: () => Promise<T | undefined>,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (let i = 0; i < Math.ceil(ms / everyMs) + 1 && Date.now() <= deadline; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${ms / 1000} s${last ? ` (${String(last)})` : ''}`);
}

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The binaries this cluster needs that are not installed (PostgreSQL 15 included). */
export function missingBinaries(): string[] {
  const missing = Object.keys(PACKAGES).filter((b) => !which(b));
  if (!fs.existsSync(path.join(PG_BIN, 'postgres'))) missing.push('postgresql-15');
  return missing;
}

/** Installs the missing packages with apt-get (root only, bounded); throws with the reason when it cannot. */
export function installMissing(log: (line: string) => void): void {
  const missing = missingBinaries();
  if (missing.length === 0) return;
  const packages = missing.map((b) => PACKAGES[b] ?? b);
  if (process.getuid?.() !== 0) throw new Error(`missing ${packages.join(', ')}; install them as root`);
  log(`installing ${packages.join(' ')}`);
  const apt = (args: string[]) =>
    execFileSync('timeout', ['300', 'apt-get', '-o', 'DPkg::Lock::Timeout=60', ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', ...packages]);
  // The packages' own services must not run: this cluster starts its own processes.
  for (const service of ['etcd', 'haproxy', 'patroni']) {
    try {
      execFileSync('systemctl', ['stop', service], { stdio: 'ignore', timeout: 15_000 });
    } catch {
      // no systemd, or not running
    }
  }
  const still = missingBinaries();
  if (still.length > 0) throw new Error(`still missing after apt-get: ${still.join(', ')}`);
}

interface Owner {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: as root, the cluster's processes run as `postgres`. */
function owner(): Owner {
  if (process.getuid?.() !== 0) return { uid: process.getuid!(), gid: process.getgid!() };
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export interface ClusterState {
  dir: string;
}

export interface Member {
  name: string;
  role: string;
  state: string;
  lag?: number | string;
}

/** The cluster in `dir` (made by `createCluster`, or found again by `cluster down|status`). */
export class Cluster {
  readonly dir: string;
  private readonly who: Owner;

  constructor(dir: string) {
    this.dir = dir;
    this.who = owner();
  }

  private file(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Writes the configuration files; the data directories are made by Patroni. */
  writeConfig(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const d of ['etcd', 'run', 'log']) fs.mkdirSync(this.file(d), { recursive: true, mode: 0o700 });
    NODES.forEach((name, i) => {
      const config = {
        scope: SCOPE,
        name,
        log: { level: 'WARNING', dir: this.file('log'), file_num: 2, file_size: 10_000_000 },
        restapi: { listen: `127.0.0.1:${PORTS.rest[i]}`, connect_address: `127.0.0.1:${PORTS.rest[i]}` },
        etcd3: { hosts: [`127.0.0.1:${PORTS.etcdClient}`] },
        bootstrap: {
          dcs: {
            ttl: 20,
            loop_wait: 2,
            retry_timeout: 5,
            maximum_lag_on_failover: 1_048_576,
            // A crashed primary is failed over at once, not restarted in place first: with a
            // synchronous standby nothing acknowledged can be lost by doing so.
            primary_start_timeout: 0,
            synchronous_mode: true,
            postgresql: {
              use_pg_rewind: true,
              use_slots: true,
              parameters: {
                wal_level: 'replica',
                hot_standby: 'on',
                wal_log_hints: 'on',
                max_wal_senders: 10,
                max_replication_slots: 10,
                max_connections: 200,
                wal_keep_size: '256MB',
              },
            },
          },
          initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums'],
        },
        postgresql: {
          listen: `127.0.0.1:${PORTS.pg[i]}`,
          connect_address: `127.0.0.1:${PORTS.pg[i]}`,
          data_dir: this.file(name),
          bin_dir: PG_BIN,
          pgpass: this.file('run', `pgpass-${name}`),
          // Loopback only, and nothing else listens: trust, so no password sits in a URL or file.
          pg_hba: [
            'local all all trust',
            'host all all 127.0.0.1/32 trust',
            'host replication all 127.0.0.1/32 trust',
          ],
          authentication: {
            superuser: { username: 'postgres' },
            replication: { username: 'replicator' },
            rewind: { username: 'postgres' },
          },
          parameters: { unix_socket_directories: this.file('run') },
        },
        tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
      };
      fs.writeFileSync(this.file(`${name}.yml`), stringify(config), { mode: 0o600 });
    });
    const servers = NODES.map(
      (name, i) => `  server ${name} 127.0.0.1:${PORTS.pg[i]} maxconn 200 check port ${PORTS.rest[i]}`,
    );
    const apps = PORTS.app.map((port, i) => `  server app${i + 1} 127.0.0.1:${port} check`);
    const haproxy = [
      'global',
      '  maxconn 1000',
      `  pidfile ${this.file('run', 'haproxy.pid')}`,
      'defaults',
      '  timeout connect 2s',
      '  timeout client 30m',
      '  timeout server 30m',
      '  timeout check 1s',
      '# Writes go to the node whose Patroni answers 200 on /primary; when it stops doing so,',
      '# its sessions are cut at once so that pools reconnect to the new primary.',
      'listen primary',
      '  mode tcp',
      `  bind 127.0.0.1:${PORTS.primary}`,
      '  option httpchk OPTIONS /primary',
      '  http-check expect status 200',
      '  default-server inter 500ms fastinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions',
      ...servers,
      'listen apps',
      '  mode http',
      `  bind 127.0.0.1:${PORTS.apps}`,
      '  balance roundrobin',
      '  option httpchk GET /healthz',
      '  default-server inter 1s fall 2 rise 1',
      ...apps,
      '',
    ].join('\n');
    fs.writeFileSync(this.file('haproxy.cfg'), haproxy, { mode: 0o600 });
    this.chownAll();
  }

  private chownAll(): void {
    const walk = (p: string) => {
      fs.chownSync(p, this.who.uid, this.who.gid);
      if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    };
    walk(this.dir);
  }

  private pidFile(name: string): string {
    return this.file('run', `${name}.pid`);
  }

  /**
   * Starts `cmd` detached (as the cluster's owner unless `asMe`), output to log/NAME.log, pid in
   * run/NAME.pid.
   */
  private startProcess(
    name: string,
    cmd: string,
    args: string[],
    opts: { asMe?: boolean; env?: Record<string, string>; cwd?: string } = {},
  ): number {
    const out = fs.openSync(this.file('log', `${name}.log`), 'a', 0o600);
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? this.dir,
      detached: true,
      stdio: ['ignore', out, out],
      ...(opts.asMe ? {} : { uid: this.who.uid, gid: this.who.gid }),
      env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir, LANG: 'C.UTF-8' },
    });
    fs.closeSync(out);
    child.unref();
    if (child.pid === undefined) throw new Error(`${name} did not start`);
    fs.writeFileSync(this.pidFile(name), `${child.pid}\n`);
    return child.pid;
  }

  /** The pid recorded for `name` if that process is still alive. */
  pidOf(name: string): number | undefined {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.pidFile(name), 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  startEtcd(): void {
    this.startProcess('etcd', 'etcd', [
      '--name',
      'etcd1',
      '--data-dir',
      this.file('etcd', 'data'),
      '--listen-client-urls',
      `http://127.0.0.1:${PORTS.etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${PORTS.etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${PORTS.etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${PORTS.etcdPeer}`,
      '--initial-cluster',
      `etcd1=http://127.0.0.1:${PORTS.etcdPeer}`,
      '--enable-v2=false',
      '--log-level',
      'warn',
    ]);
  }

  startPatroni(name: NodeName): void {
    this.startProcess(`patroni-${name}`, 'patroni', [this.file(`${name}.yml`)]);
  }

  startHaproxy(): void {
    // -db: stay in the foreground (a child with a pid file of ours); -W: master-worker.
    this.startProcess('haproxy', 'haproxy', ['-db', '-f', this.file('haproxy.cfg')]);
  }

  /**
   * Starts movticket instance `i` (1 or 2) from dist/ on its port, connected through HAProxy;
   * `env` adds to the settings (the demo key, the key file, the SMS target).
   */
  startApp(i: 1 | 2, root: string, env: Record<string, string>): void {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(MOVTICKET_.*|DATABASE_URL|PORT|HOST)$/.test(k)),
    ) as Record<string, string>;
    this.startProcess(
      `app${i}`,
      process.execPath,
      ['--max-semi-space-size=8', path.join(root, 'dist', 'cli', 'main.js'), 'serve', '--demo'],
      {
        asMe: true,
        cwd: root,
        env: {
          ...inherited,
          HOST: '127.0.0.1',
          PORT: String(PORTS.app[i - 1]),
          DATABASE_URL,
          MOVTICKET_DATA_DIR: this.file(`app${i}`),
          LOG_LEVEL: 'warn',
          ...env,
        },
      },
    );
  }

  /** Patroni's view of the cluster, asked from any node that answers. */
  async members(): Promise<Member[] | undefined> {
    for (const port of PORTS.rest) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/cluster`, { signal: AbortSignal.timeout(1_000) });
        if (!res.ok) continue;
        const body = (await res.json()) as { members?: Member[] };
        return body.members ?? [];
      } catch {
        // this node is down; ask the other
      }
    }
    return undefined;
  }

  /** The running leader's name, if there is one. */
  async leader(): Promise<NodeName | undefined> {
    const members = await this.members();
    const m = members?.find((x) => x.role === 'leader' && x.state === 'running');
    return m?.name as NodeName | undefined;
  }

  /** Waits for a running leader other than `not`, and for HAProxy to route to it. */
  async waitForLeader(timeoutMs: number, not?: NodeName): Promise<NodeName> {
    const leader = await waitFor('a new leader', timeoutMs, async () => {
      const l = await this.leader();
      return l !== undefined && l !== not ? l : undefined;
    });
    await waitFor('HAProxy routing writes', timeoutMs, async () => {
      const c = new pg.Client({
        connectionString: `postgres://postgres@127.0.0.1:${PORTS.primary}/postgres`,
        connectionTimeoutMillis: 1_000,
      });
      try {
        await c.connect();
        const r = await c.query<{ ro: boolean }>('select pg_is_in_recovery() as ro');
        return r.rows[0]?.ro === false ? true : undefined;
      } finally {
        await c.end().catch(() => {});
      }
    });
    return leader;
  }

  /** Waits until `name` streams from the leader as its synchronous standby. */
  async waitForSyncStandby(name: NodeName, timeoutMs: number): Promise<void> {
    await waitFor(`${name} as synchronous standby`, timeoutMs, async () => {
      const m = (await this.members())?.find((x) => x.name === name);
      return m?.role === 'sync_standby' && (m.state === 'streaming' || m.state === 'running')
        ? true
        : undefined;
    });
  }

  /** The pid of the postmaster of `name` (from its data directory), if running. */
  postmasterPid(name: NodeName): number | undefined {
    try {
      const pid = Number(fs.readFileSync(this.file(name, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL to the postmaster of `name`: the machine's database dies mid-write. */
  killPostgres(name: NodeName): void {
    const pid = this.postmasterPid(name);
    if (pid === undefined) throw new Error(`${name}: no postmaster running`);
    process.kill(pid, 'SIGKILL');
  }

  /** Stops the Patroni of `name` (SIGTERM; it stops its PostgreSQL and gives up the leader key). */
  async stopPatroni(name: NodeName, timeoutMs = 60_000): Promise<void> {
    await this.stopProcess(`patroni-${name}`, timeoutMs);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; true if the process had been running. */
  async stopProcess(name: string, timeoutMs: number): Promise<boolean> {
    const pid = this.pidOf(name);
    if (pid === undefined) return false;
    process.kill(pid, 'SIGTERM');
    const gone = await waitFor(`${name} to exit`, timeoutMs, async () =>
      this.pidOf(name) === undefined ? true : undefined,
    ).catch(() => false);
    if (!gone && this.pidOf(name) !== undefined) process.kill(pid, 'SIGKILL');
    fs.rmSync(this.pidFile(name), { force: true });
    return true;
  }

  /** Brings etcd, both nodes and HAProxy up, and the `movticket` database into being. */
  async up(log: (line: string) => void, timeoutMs = 120_000): Promise<NodeName> {
    this.writeConfig();
    this.startEtcd();
    await waitFor('etcd', 30_000, async () => {
      const res = await fetch(`http://127.0.0.1:${PORTS.etcdClient}/health`, {
        signal: AbortSignal.timeout(1_000),
      });
      return res.ok ? true : undefined;
    });
    log(`etcd on 127.0.0.1:${PORTS.etcdClient}`);
    this.startPatroni('pg1');
    const leader = await waitFor('pg1 to bootstrap', timeoutMs, () => this.leader());
    this.startPatroni('pg2');
    this.startHaproxy();
    await this.waitForLeader(timeoutMs);
    const standby = NODES.find((n) => n !== leader)!;
    await this.waitForSyncStandby(standby, timeoutMs);
    log(`leader ${leader}, synchronous standby ${standby}; HAProxy on 127.0.0.1:${PORTS.primary}`);
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${PORTS.primary}/postgres` });
    await c.connect();
    try {
      const has = await c.query(`select 1 from pg_database where datname = 'movticket'`);
      if (has.rowCount === 0) await c.query('create database movticket');
    } finally {
      await c.end();
    }
    return leader;
  }

  /** Stops every process of the cluster (HAProxy, both Patronis with their PostgreSQL, etcd). */
  async down(): Promise<string[]> {
    const stopped: string[] = [];
    for (const i of [1, 2]) if (await this.stopProcess(`app${i}`, 15_000)) stopped.push(`app${i}`);
    if (await this.stopProcess('haproxy', 10_000)) stopped.push('haproxy');
    await Promise.all(
      NODES.map(async (n) => {
        if (await this.stopProcess(`patroni-${n}`, 60_000)) stopped.push(`patroni-${n}`);
      }),
    );
    // A postmaster left behind (its Patroni killed) would hold the port: stop it too.
    for (const n of NODES) {
      const pid = this.postmasterPid(n);
      if (pid !== undefined) {
        process.kill(pid, 'SIGQUIT');
        await waitFor(`postgres of ${n} to exit`, 30_000, async () =>
          this.postmasterPid(n) === undefined ? true : undefined,
        ).catch(() => process.kill(pid, 'SIGKILL'));
        stopped.push(`postgres-${n}`);
      }
    }
    if (await this.stopProcess('etcd', 10_000)) stopped.push('etcd');
    return stopped;
  }
}
