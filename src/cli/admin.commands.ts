import type { Command } from 'commander';

/** Operator commands: users, partners, keys, prices, catalog. */
export function registerAdminCommands(_program: Command): void {}
