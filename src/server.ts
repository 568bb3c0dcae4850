import path from 'node:path';
import { buildApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { systemClock } from './domain/clock.js';
import { DEMO_ADMIN, DEMO_PARTNER, ensureDemoAdmin, ensureDemoData } from './domain/demo.js';
import { md5Hex } from './domain/sign.js';
import { warnOnStderr } from './private-files.js';
import { loadSecretBox } from './secret-key-file.js';
import { formatYmdHis } from './domain/time.js';
import { senderFromConfig } from './workers/sms-senders.js';
import { Sweeper } from './workers/expiry.js';

/** Starts the HTTP server and workers; returns a function that shuts them down gracefully. */
export async function serve(
  config: Config,
): Promise<{ close: () => Promise<void>; port: number; metricsPort: number | undefined }> {
  const sqlitePath = path.join(config.dataDir, 'movticket.sqlite');
  // Before the database opens: without a key nothing can be stored properly.
  const secrets = loadSecretBox(config, { demo: config.demo, warn: warnOnStderr });
  const db = await openDatabase(
    config.databaseUrl
      ? { url: config.databaseUrl }
      : { sqlitePath, sync: config.sqliteSync, warn: warnOnStderr },
  );
  const logger = { level: config.logLevel, redact: ['req.headers.authorization', '*.md5key', '*.password'] };
  let demoKey: string | undefined;
  let adminPassword: string | null = null;
  if (config.demo) {
    for (let attempt = 0; ; attempt++) {
      try {
        demoKey = (await ensureDemoData(db, systemClock.now(), config.demoKey)).md5key;
        break;
      } catch (err) {
        // Another process sharing the database seeded it at the same moment.
        if (attempt > 0 || !db.isUniqueViolation(err)) throw err;
      }
    }
    adminPassword = await ensureDemoAdmin(db, systemClock);
  }
  const app = await buildApp({
    config,
    db,
    clock: systemClock,
    sms: senderFromConfig(config, consoleLog),
    secrets,
    logger,
  });
  const sweeper = new Sweeper(
    db,
    systemClock,
    app.requestLog,
    config.reqIdRetentionDays * 86_400_000,
    (err) => app.fastify.log.error({ err }, 'sweep failed'),
  );
  if (config.demo) await app.registry.reload();
  await app.fastify.listen({ port: config.port, host: config.host });
  const address = app.fastify.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  let metricsPort: number | undefined;
  if (app.metricsServer) {
    await app.metricsServer.listen({ port: config.metricsPort, host: config.metricsHost });
    const a = app.metricsServer.server.address();
    metricsPort = typeof a === 'object' && a ? a.port : config.metricsPort;
    app.fastify.log.info({ host: config.metricsHost, port: metricsPort }, 'metrics listener started');
  } else if (config.metricsToken === undefined) {
    app.fastify.log.info(
      'metrics are not served: set MOVTICKET_METRICS_PORT or MOVTICKET_METRICS_TOKEN_FILE to serve /metrics',
    );
  }
  app.startWorkers();
  sweeper.start();
  if (demoKey !== undefined) printDemoBanner(config, port, demoKey, adminPassword);
  return {
    port,
    metricsPort,
    close: async () => {
      await sweeper.stop();
      await app.close();
      await db.close();
    },
  };
}

const consoleLog = {
  info: (obj: object, msg: string) => process.stdout.write(`${msg} ${JSON.stringify(obj)}\n`),
};

function printDemoBanner(config: Config, port: number, md5key: string, adminPassword: string | null): void {
  const { partnerId, busId, secId } = DEMO_PARTNER;
  const reqId = `demo${Date.now()}`;
  const timestamp = formatYmdHis(Date.now(), config.timeZone);
  const hashcode = md5Hex(`${partnerId}${busId}${reqId}${timestamp}${md5key}`);
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const lines = [
    '',
    `movticket demo is serving on ${base}`,
    '',
    `  partner_id  ${partnerId}`,
    `  sec_id      ${secId}   (sign mode: basic)`,
    `  bus_id      ${busId}`,
    `  md5key      ${md5key}`,
    '',
    `Example request (valid for ${config.timestampWindowSec} s; the timestamp must be fresh):`,
    `  curl -s ${base}/movTicket/cities -d partner_id=${partnerId} -d sec_id=${secId} -d bus_id=${busId} \\`,
    `    -d req_id=${reqId} -d ver=1000 -d timestamp=${timestamp} -d hashcode=${hashcode} -d format=json`,
    '',
    `Walk both purchase flows: MOVTICKET_MD5KEY=${md5key} npm run demo:channel`,
    '',
    `Console: ${base}/admin`,
    adminPassword
      ? `  user ${DEMO_ADMIN}, password ${adminPassword}   (shown this once; reset: npm run movticket -- user password ${DEMO_ADMIN})`
      : `  sign in with an existing account (reset a password: npm run movticket -- user password NAME)`,
    '',
  ];
  terminal().write(lines.join('\n') + '\n');
}

/**
 * Where secrets meant for the person starting the server go. The JSON log lines go to stdout,
 * which a deployment may ship to a log collector; so stdout only when it is a terminal, else
 * stderr, the stream Unix keeps for messages to a person.
 */
function terminal(): NodeJS.WriteStream {
  return process.stdout.isTTY ? process.stdout : process.stderr;
}

/** `movticket serve` / `npm start`. */
export async function main(argv: string[]): Promise<void> {
  let server: Awaited<ReturnType<typeof serve>>;
  try {
    const config = loadConfig(process.env, argv.includes('--demo') ? { demo: true } : {});
    server = await serve(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`movticket: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: finishing in-flight requests and stopping\n`);
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1]?.endsWith('/server.ts')) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`movticket failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
