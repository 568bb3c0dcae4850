// `npm run cluster -- up|down|status [--dir DIR] [--no-apps]`: a local highly available setup on
// 127.0.0.1 — etcd, two PostgreSQL 15 nodes under Patroni (one synchronous standby), HAProxy in
// front of the primary and of two movticket instances (from dist/; `up` builds it). Installs the
// Debian packages when missing (as root). Everything lives in DIR (default: a directory under the
// system's temporary directory) and is stopped by `down`, which also removes DIR.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createKeyFile } from '../src/secret-key-file.js';
import { Cluster, DATABASE_URL, installMissing, NODES, PORTS, waitFor } from './cluster-processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: path.join(os.tmpdir(), 'movticket-cluster') },
    'no-apps': { type: 'boolean', default: false },
  },
});
const command = positionals[0];
const log = (line: string) => console.log(`cluster: ${line}`);
const cluster = new Cluster(values.dir);

async function appsUp(): Promise<void> {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const keyFile = path.join(values.dir, 'run', 'movticket.key');
  createKeyFile(keyFile, { ifAbsent: true });
  const demoKey = `cl${randomBytes(8).toString('hex')}`;
  for (const i of [1, 2] as const) {
    cluster.startApp(i, ROOT, {
      MOVTICKET_DEMO_KEY: demoKey,
      MOVTICKET_SECRET_KEY_FILE: keyFile,
      MOVTICKET_SMS: `file:${path.join(values.dir, `sms-app${i}.jsonl`)}`,
    });
    // One after the other: the first seeds the demo data, the second finds it.
    await waitFor(`movticket instance ${i}`, 60_000, async () => {
      const res = await fetch(`http://127.0.0.1:${PORTS.app[i - 1]}/readyz`, {
        signal: AbortSignal.timeout(1_000),
      });
      return res.ok ? true : undefined;
    });
  }
  fs.writeFileSync(path.join(values.dir, 'run', 'demo-key'), `${demoKey}\n`, { mode: 0o600 });
  log(
    `movticket on 127.0.0.1:${PORTS.app.join(', 127.0.0.1:')}, both behind 127.0.0.1:${PORTS.apps}; ` +
      `demo partner CS000001, sec_id test, md5key in ${path.join(values.dir, 'run', 'demo-key')}`,
  );
}

async function status(): Promise<number> {
  const names = ['etcd', 'patroni-pg1', 'patroni-pg2', 'haproxy', 'app1', 'app2'];
  for (const name of names) {
    const pid = cluster.pidOf(name);
    console.log(`${name.padEnd(12)} ${pid === undefined ? 'stopped' : `running (pid ${pid})`}`);
  }
  const members = await cluster.members();
  if (!members) {
    console.log('patroni: no node answers');
    return 1;
  }
  for (const m of members)
    console.log(`${m.name.padEnd(12)} ${m.role} ${m.state}${m.lag !== undefined ? ` lag ${m.lag}` : ''}`);
  console.log(`database url  ${DATABASE_URL}`);
  return members.some((m) => m.role === 'leader' && m.state === 'running') ? 0 : 1;
}

switch (command) {
  case 'up': {
    if (cluster.pidOf('etcd') !== undefined) {
      log(`already up in ${values.dir}; \`npm run cluster -- down\` first`);
      process.exit(1);
    }
    try {
      installMissing(log);
    } catch (err) {
      log(err instanceof Error ? err.message : String(err));
      process.exit(2);
    }
    try {
      await cluster.up(log);
      if (!values['no-apps']) await appsUp();
    } catch (err) {
      log(
        `up failed: ${err instanceof Error ? err.message : String(err)}; logs in ${path.join(values.dir, 'log')}`,
      );
      await cluster.down();
      process.exit(1);
    }
    log(`up in ${values.dir}; database ${DATABASE_URL}; nodes ${NODES.join(', ')}`);
    break;
  }
  case 'down': {
    const stopped = await cluster.down();
    log(stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing was running');
    fs.rmSync(values.dir, { recursive: true, force: true });
    break;
  }
  case 'status':
    process.exitCode = await status();
    break;
  default:
    console.error('usage: npm run cluster -- up|down|status [--dir DIR] [--no-apps]');
    process.exitCode = 2;
}
