import fs from 'node:fs';

/** Where start-up reports a permission it had to tighten (or could not). */
export type Warn = (message: string) => void;

export const warnOnStderr: Warn = (message) => process.stderr.write(`movticket: warning: ${message}\n`);

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Creates `dir` (and missing parents) readable by the owner only, or tightens one left open to
 * others. A shared directory (world-writable with the sticky bit, as /tmp) is refused, never
 * tightened: closing it would break every other user of the machine, and files kept in it can
 * be tampered with by them (another user may create the database's -wal file first).
 */
export function ensurePrivateDir(dir: string, warn: Warn): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { mode } = fs.statSync(dir);
  if ((mode & 0o1002) === 0o1002) {
    throw new Error(
      `${dir} is a directory shared by every user (mode ${(mode & 0o7777).toString(8)}); ` +
        `keep movticket's data in a directory of its own (for example ${dir.replace(/\/+$/, '')}/movticket)`,
    );
  }
  tighten(dir, 0o700, 'directory', warn);
}

/** Tightens an existing file left open to group or others to 0600; an absent file is left absent. */
export function tightenFile(file: string, warn: Warn): void {
  tighten(file, 0o600, 'file', warn);
}

function tighten(target: string, mode: number, what: string, warn: Warn): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((stat.mode & 0o077) === 0) return;
  try {
    fs.chmodSync(target, mode);
    warn(`${what} ${target} was open to other users (mode ${octal(stat.mode)}); changed to ${octal(mode)}`);
  } catch (err) {
    warn(
      `${what} ${target} is open to other users (mode ${octal(stat.mode)}) and could not be changed to ${octal(mode)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}
