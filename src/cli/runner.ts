import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Role } from '../db/schema.js';
import type { Actor } from '../domain/admin/audit.service.js';
import type { CliContext } from './context.js';
import type { CliServices } from './services.js';

// Only commander and types at the top: `movticket --help` loads this module, and the database,
// the domain services and the key file are loaded when a command runs.

/** The operator commands never need the secret key. */
export type AdminContext = Omit<CliContext, 'secrets'>;

/** What the commands need from the outside world; tests replace parts of it. */
export interface CliDeps {
  withCli: <T>(fn: (ctx: AdminContext) => Promise<T>) => Promise<T>;
  /** Writes text to stderr (errors, warnings, progress). */
  writeErr: (text: string) => void;
  /** The whole of stdin. */
  readStdin: () => Promise<string>;
  /** Asks for a secret on the terminal without echoing it. */
  promptSecret: (question: string) => Promise<string>;
  exit: (code: number) => never;
}

/** A mistake in how a command was called: exit code 2. */
export class UsageError extends Error {}

export const defaultDeps = (): CliDeps => ({
  withCli: async (fn) => (await import('./context.js')).withCli(fn),
  writeErr: (s) => process.stderr.write(s),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  promptSecret: promptHidden,
  exit: (code) => process.exit(code),
});

function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new UsageError('no password: use --password-stdin, or run on a terminal to be prompted');
  }
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    process.stderr.write(question);
    // Echo nothing that is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
    rl.on('SIGINT', () => {
      rl.close();
      process.stderr.write('\n');
      reject(new UsageError('cancelled'));
    });
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/** What an operator command body gets: the open context, the services, who acts. */
export interface Session extends CliServices {
  ctx: AdminContext;
  /** The console operator acts as an admin. */
  by: Actor;
  tz: string;
}

/** The helpers every operator command group is declared with. */
export interface Runner {
  deps: CliDeps;
  /** Writes one line to stderr. */
  err: (line: string) => void;
  /** Runs a command body with the database open; turns failures into one line and an exit code. */
  run: (body: (s: Session) => Promise<void>) => Promise<void>;
  /** A top-level command whose usage errors exit with 2 and print one line. */
  group: (name: string, description: string) => Command;
  /** A new password from the first line of stdin, or typed twice on the terminal. */
  readPassword: (fromStdin: boolean | undefined) => Promise<string>;
}

export function commandRunner(program: Command, overrides: Partial<CliDeps> = {}): Runner {
  const deps = { ...defaultDeps(), ...overrides };
  const err = (line: string) => deps.writeErr(`${line}\n`);

  const run = async (body: (s: Session) => Promise<void>): Promise<void> => {
    try {
      const { buildCliServices } = await import('./services.js');
      await deps.withCli(async (ctx) => {
        const role: Role = 'admin';
        await body({
          ctx,
          by: { actor: ctx.actor, role },
          tz: ctx.config.timeZone,
          ...buildCliServices(ctx),
        });
      });
    } catch (e) {
      if (e instanceof UsageError) {
        err(`movticket: error: ${e.message}`);
        deps.exit(2);
      }
      // AdminError, ConfigError and database errors alike: the message only, never a stack.
      err(`movticket: ${e instanceof Error ? e.message : String(e)}`);
      deps.exit(1);
    }
  };

  const group = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .configureOutput({
        writeErr: deps.writeErr,
        outputError: (s, write) => write(`movticket: ${s}`),
      })
      .exitOverride((e) => {
        deps.exit(e.exitCode === 0 ? 0 : 2);
      });

  const readPassword = async (fromStdin: boolean | undefined): Promise<string> => {
    if (fromStdin) {
      const line = (await deps.readStdin()).split(/\r?\n/)[0] ?? '';
      if (!line) throw new UsageError('--password-stdin: nothing was read from stdin');
      return line;
    }
    const first = await deps.promptSecret('New password: ');
    const second = await deps.promptSecret('Repeat it: ');
    if (first !== second) throw new UsageError('the two passwords differ');
    return first;
  };

  return { deps, err, run, group, readPassword };
}

/**
 * Runs a card or report command with the database open and the key file at hand; a failure
 * reaches main's handler (one line, exit code 1).
 */
export async function withServices<T>(
  fn: (ctx: CliContext, services: CliServices) => Promise<T>,
): Promise<T> {
  const [{ withCli }, { buildCliServices }] = await Promise.all([
    import('./context.js'),
    import('./services.js'),
  ]);
  return withCli((ctx) => fn(ctx, buildCliServices(ctx)));
}
