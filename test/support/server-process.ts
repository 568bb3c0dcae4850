import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_ENTRY } from './build-dist.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BANNER = /movticket demo is serving on (http:\/\/\S+)[\s\S]*?md5key\s+(\S+)/;
const MAX_OUTPUT = 256 * 1024;
// Settings of the surrounding shell must not leak into a server under test.
const NOT_INHERITED = /^(MOVTICKET_.*|DATABASE_URL|PORT|HOST|LOG_LEVEL)$/;

export interface ServerProcess {
  /** `http://127.0.0.1:PORT` from the demo banner. */
  readonly baseUrl: string;
  /** The md5key printed in the demo banner. */
  readonly md5key: string;
  readonly pid: number;
  /** Headers that let a scrape of `baseUrl`/metrics through (the server gets a token file). */
  readonly metricsHeaders: Record<string, string>;
  /** Everything the process wrote to stdout and stderr so far (the last 256 KiB). */
  output(): string;
  /** What it wrote to stdout alone (its JSON log lines; the last 256 KiB). */
  stdout(): string;
  /** What it wrote to stderr alone (the last 256 KiB). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or the signal's name. */
  stop(graceMs?: number): Promise<number | string>;
}

type Exit = number | string;

function waitForExit(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    // 'close' comes after the output streams ended, so nothing written is missed.
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
}

/** A token file for /metrics, removed when the process exits. */
function metricsTokenFile(): { file: string; token: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-metrics-'));
  const token = randomBytes(24).toString('hex');
  const file = path.join(dir, 'token');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { file, token, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts `movticket serve --demo` as a child process (from dist/ under vitest, else the sources) on a free port with `env` on top of a
 * cleaned copy of this process's environment, and resolves once it printed its banner (on
 * stderr, since its stdout is not a terminal). /metrics asks for a token unless `env` says otherwise.
 */
export async function startDemoServer(
  env: Record<string, string>,
  opts: { readyTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !NOT_INHERITED.test(name)),
  );
  const metrics = metricsTokenFile();
  // Under vitest the global setup has just built dist/: run what an operator runs and spare every
  // child compiling the sources. The scripts run the sources, which need no build first.
  const entry = process.env.VITEST ? [CLI_ENTRY] : ['--import', 'tsx', 'src/cli/main.ts'];
  const child = spawn(process.execPath, [...entry, 'serve', '--demo'], {
    cwd: ROOT,
    env: { ...inherited, PORT: '0', MOVTICKET_METRICS_TOKEN_FILE: metrics.file, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const streams = { stdout: '', stderr: '' };
  let exitResult: Exit | undefined;
  const exited = waitForExit(child).then((result) => {
    metrics.remove();
    return (exitResult = result);
  });
  const keep = (text: string, more: string) => (text + more).slice(-MAX_OUTPUT);
  const collect = (from: 'stdout' | 'stderr' | null) => (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = keep(output, text);
    if (from) streams[from] = keep(streams[from], text);
  };
  child.stdout!.on('data', collect('stdout'));
  child.stderr!.on('data', collect('stderr'));
  child.on('error', (err) => collect(null)(Buffer.from(`\n[spawn error] ${err.message}\n`)));

  const stop = async (graceMs = 10_000): Promise<Exit> => {
    if (exitResult !== undefined) return exitResult;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const first = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (first !== 'late') return first;
    child.kill('SIGKILL');
    return exited;
  };

  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const banner = await new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const match = BANNER.exec(output);
      if (match) done(() => resolve(match));
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(() => reject(new Error(`server exited (${code ?? signal}) before serving:\n${output}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`server not serving after ${readyTimeoutMs} ms:\n${output}`))),
      readyTimeoutMs,
    );
    const done = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.stderr!.off('data', check);
      child.off('close', onExit);
      settle();
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('close', onExit);
    check();
  }).catch(async (err: unknown) => {
    await stop(2_000);
    throw err;
  });

  return {
    baseUrl: banner[1]!,
    md5key: banner[2]!,
    pid: child.pid!,
    metricsHeaders: { authorization: `Bearer ${metrics.token}` },
    output: () => output,
    stdout: () => streams.stdout,
    stderr: () => streams.stderr,
    stop,
  };
}
