import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

// The toolchains of the channels' languages (Java, Python, PHP, Go) that the tests of examples/
// and of the guides' signing snippets run. CI installs them; elsewhere a missing one is skipped.

export interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; `timeoutMs` is a hang guard that kills it. */
export function run(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? 'unknown', stdout, stderr });
    });
  });
}

function works(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 60_000 });
  return r.error === undefined && r.status === 0;
}

export type LanguageName = 'java' | 'python' | 'php' | 'go';

/** Why a language's toolchain cannot run here (with how to install it), or undefined. */
export function missingToolchain(lang: LanguageName): string | undefined {
  switch (lang) {
    case 'java':
      return works('javac', ['-version']) && works('java', ['-version'])
        ? undefined
        : 'javac/java not found (apt-get install default-jdk-headless)';
    case 'python':
      return works('python3', ['-c', 'import sys; assert sys.version_info >= (3, 11)'])
        ? undefined
        : 'python3 3.11 or later not found';
    case 'php':
      return works('php', ['-r', 'exit(extension_loaded("simplexml") && extension_loaded("json") ? 0 : 1);'])
        ? undefined
        : 'php with SimpleXML not found (apt-get install php-cli php-xml)';
    case 'go':
      return works('go', ['version']) ? undefined : 'go not found (apt-get install golang)';
  }
}

/** The environment without settings of the surrounding shell that must not reach a child. */
export function cleanEnv(): Record<string, string> {
  const notInherited = /^(MOVTICKET_.*|MT_.*|DATABASE_URL|PORT|HOST|LOG_LEVEL)$/;
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !notInherited.test(e[0]),
    ),
  );
}

/**
 * Settings for `go`: its build cache and module path in the temp dir (a CI user's home may be
 * missing or read-only), no network (the examples have no dependencies), the installed toolchain.
 */
export function goEnv(): Record<string, string> {
  const cache = path.join(os.tmpdir(), 'movticket-go-cache');
  return {
    ...cleanEnv(),
    GOCACHE: path.join(cache, 'build'),
    GOPATH: path.join(cache, 'path'),
    GOPROXY: 'off',
    GOFLAGS: '-buildvcs=false',
    GOTOOLCHAIN: 'local',
  };
}
