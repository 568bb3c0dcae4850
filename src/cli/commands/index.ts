import type { Command } from 'commander';
import { type CliDeps, commandRunner } from '../runner.js';
import { registerAuditCommands } from './audit.js';
import { registerCardCommands, registerSmsCommands } from './cards.js';
import { registerCatalogCommands } from './catalog.js';
import { registerPartnerCommands } from './partners.js';
import { registerReportCommands } from './reports.js';
import { registerSecretKeyCommands } from './secret-key.js';
import { registerUserCommands } from './users.js';

/** Operator commands: users, partners, keys, prices, catalog, audit. */
export function registerAdminCommands(program: Command, overrides: Partial<CliDeps> = {}): void {
  const runner = commandRunner(program, overrides);
  registerUserCommands(runner);
  registerPartnerCommands(runner);
  registerCatalogCommands(runner);
  registerAuditCommands(runner);
}

/** Every command but `serve`, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerAdminCommands(program);
  registerCardCommands(program);
  registerReportCommands(program);
  registerSmsCommands(program);
  registerSecretKeyCommands(program);
}
