import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
  /** Everything the process wrote to stdout and stderr so far (the last 256 KiB). */
  output(): string;
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

/**
 * Starts `movticket serve --demo` as a child process on a free port with `env` on top of a
 * cleaned copy of this process's environment, and resolves once it printed its banner.
 */
export async function startDemoServer(
  env: Record<string, string>,
  opts: { readyTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !NOT_INHERITED.test(name)),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--demo'], {
    cwd: ROOT,
    env: { ...inherited, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exitResult: Exit | undefined;
  const exited = waitForExit(child).then((result) => (exitResult = result));
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  child.on('error', (err) => collect(Buffer.from(`\n[spawn error] ${err.message}\n`)));

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
      child.off('close', onExit);
      settle();
    };
    child.stdout!.on('data', check);
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
    output: () => output,
    stop,
  };
}
