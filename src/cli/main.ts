#!/usr/bin/env node
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

const program = new Command('movticket').description(
  'movticket: electronic movie-ticket vouchers for sales channels',
);

program
  .command('serve')
  .description('serve the partner API (SQLite in MOVTICKET_DATA_DIR unless DATABASE_URL is set)')
  .option('--demo', 'load the demo catalog and partner on first start and print its credentials')
  .action(async (opts: { demo?: boolean }) => {
    // Loaded on use: the HTTP stack is most of a start-up, and operator commands never need it.
    const { main: serveMain } = await import('../server.js');
    await serveMain(opts.demo ? ['--demo'] : []);
  });

registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`movticket: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
