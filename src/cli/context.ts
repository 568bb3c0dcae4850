import path from 'node:path';
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Db } from '../db/database.js';
import { systemClock, type Clock } from '../domain/clock.js';

export interface CliContext {
  config: Config;
  db: Db;
  clock: Clock;
  /** Written to the audit log as the actor of CLI changes. */
  actor: string;
  out: (line: string) => void;
}

/** Opens the configured database (as `serve` would), runs `fn`, closes it. */
export async function withCli<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase(
    config.databaseUrl
      ? { url: config.databaseUrl }
      : { sqlitePath: path.join(config.dataDir, 'movticket.sqlite') },
  );
  try {
    return await fn({
      config,
      db,
      clock: systemClock,
      actor: `cli:${process.env.USER ?? 'operator'}`,
      out: (line) => process.stdout.write(`${line}\n`),
    });
  } finally {
    await db.close();
  }
}
