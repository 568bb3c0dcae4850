import type { Command } from 'commander';

/** Card, redemption and reconciliation commands. */
export function registerCardCommands(_program: Command): void {}
