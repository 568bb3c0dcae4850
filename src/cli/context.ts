import path from 'node:path';
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Db } from '../db/database.js';
import { systemClock, type Clock } from '../domain/clock.js';
import type { SecretBox } from '../domain/secret-box.js';
import { warnOnStderr } from '../private-files.js';
import { loadSecretBox } from '../secret-key-file.js';

export interface CliContext {
  config: Config;
  db: Db;
  clock: Clock;
  /** Written to the audit log as the actor of CLI changes. */
  actor: string;
  out: (line: string) => void;
  /**
   * The key file's secret box (as `serve` finds it; a demo install's key in the data directory
   * too), loaded when a command first needs it.
   */
  secrets(): SecretBox;
}

/** The secret box of the configured key file, for commands that run without a database. */
export function cliSecrets(config: Config): SecretBox {
  return loadSecretBox(config, { demo: false, demoFileIfPresent: true, warn: warnOnStderr });
}

/** Opens the configured database (as `serve` would), runs `fn`, closes it. */
export async function withCli<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase(
    config.databaseUrl
      ? { url: config.databaseUrl }
      : {
          sqlitePath: path.join(config.dataDir, 'movticket.sqlite'),
          sync: config.sqliteSync,
          warn: warnOnStderr,
        },
  );
  let secrets: SecretBox | undefined;
  try {
    return await fn({
      config,
      db,
      clock: systemClock,
      actor: `cli:${process.env.USER ?? 'operator'}`,
      out: (line) => process.stdout.write(`${line}\n`),
      secrets: () => (secrets ??= cliSecrets(config)),
    });
  } finally {
    await db.close();
  }
}
