import fs from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError } from './config.js';
import { generateKeyText, keyFileEntry, SecretBox, SecretBoxError } from './domain/secret-box.js';
import { ensurePrivateDir, type Warn } from './private-files.js';

/** The key file the demo makes in the data directory (outside the database) when none is configured. */
export const DEMO_KEY_FILE = 'secret.key';

export const NO_KEY_MESSAGE =
  'MOVTICKET_SECRET_KEY_FILE is not set: card passwords are stored encrypted with a key you keep outside ' +
  'the database. Create a key file with `movticket secret-key generate --out /etc/movticket/secret.key` ' +
  '(written owner-only) and set MOVTICKET_SECRET_KEY_FILE to its path; see docs/operations.md.';

export interface KeySource {
  /** `demo`: when no key file is configured, make one in the data directory (first demo start). */
  demo: boolean;
  /** When no key file is configured, use the demo's key file if it exists (the CLI on a demo install). */
  demoFileIfPresent?: boolean;
  warn: Warn;
}

/** The secret box of the configured key file; refuses (ConfigError) without one outside the demo. */
export function loadSecretBox(config: Config, source: KeySource): SecretBox {
  if (config.secretKeyFile !== undefined) return readKeyFile(config.secretKeyFile);
  const demoFile = path.join(config.dataDir, DEMO_KEY_FILE);
  if (source.demo) {
    ensurePrivateDir(config.dataDir, source.warn);
    createKeyFile(demoFile, { ifAbsent: true });
    return readKeyFile(demoFile);
  }
  if (source.demoFileIfPresent && fs.existsSync(demoFile)) return readKeyFile(demoFile);
  const hint = fs.existsSync(demoFile)
    ? ` (The demo's key is in ${demoFile}; to keep using it, set MOVTICKET_SECRET_KEY_FILE=${demoFile}.)`
    : '';
  throw new ConfigError(NO_KEY_MESSAGE + hint);
}

/** Reads a key file, refusing one that group or others may read or write. */
export function readKeyFile(file: string): SecretBox {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new ConfigError(
      `secret key file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); ${
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'create it with `movticket secret-key generate --out FILE`'
          : 'check MOVTICKET_SECRET_KEY_FILE'
      }`,
    );
  }
  if (!stat.isFile()) throw new ConfigError(`secret key file ${file} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    throw new ConfigError(
      `secret key file ${file} is open to other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); ` +
        `it must be 0600 or 0400: run chmod 600 ${file}`,
    );
  }
  try {
    return SecretBox.fromKeyFile(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof SecretBoxError) throw new ConfigError(`secret key file ${file}: ${err.message}`);
    throw err;
  }
}

/**
 * Writes a new key file holding one fresh key, owner-only. Refuses an existing file unless
 * `ifAbsent` (then leaves it; two demo processes starting together make one key).
 */
export function createKeyFile(file: string, opts: { ifAbsent?: boolean } = {}): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      if (opts.ifAbsent) return false;
      throw new ConfigError(
        `${file} already exists; to add a key to it use \`movticket secret-key add ${file}\``,
      );
    }
    throw err;
  }
  try {
    fs.writeSync(fd, keyFileEntry(generateKeyText(), new Date()));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * Puts a fresh key in front of the keys of an existing key file, so it seals from the next start
 * on while the older keys still open what they sealed. Replaces the file atomically, owner-only.
 * Returns the new key's box (for its id).
 */
export function addKeyToFile(file: string): SecretBox {
  const before = readKeyFile(file);
  const keyText = generateKeyText();
  const entry = keyFileEntry(keyText, new Date());
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, entry + fs.readFileSync(file, 'utf8'));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const after = readKeyFile(file);
  if (after.keyIds.length !== before.keyIds.length + 1) throw new Error('the key file changed meanwhile');
  return after;
}
