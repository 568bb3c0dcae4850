import { Option } from 'commander';
import type { Role } from '../../db/schema.js';
import { formatTime, json, table } from '../output.js';
import type { Runner } from '../runner.js';

/** The account roles, complete by type, without loading the user service for `--help`. */
const ROLES = Object.keys({ admin: true, operator: true, cinema: true } satisfies Record<
  Role,
  true
>) as Role[];

/** Management accounts: create, list, disable, enable, set a password. */
export function registerUserCommands({ group, run, readPassword }: Runner): void {
  const user = group('user', 'management accounts (admin, operator, cinema)');
  user
    .command('create <username>')
    .description('create an account; the password is read from stdin or prompted, never an argument')
    .addOption(new Option('--role <role>', 'account role').choices(ROLES).makeOptionMandatory())
    .option('--cinema <cinema_id>', 'the cinema a cinema account belongs to')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action((username: string, o: { role: Role; cinema?: string; passwordStdin?: boolean }) =>
      run(async (s) => {
        const password = await readPassword(o.passwordStdin);
        const u = await s.users.create(s.by, { username, password, role: o.role, cinemaId: o.cinema });
        s.ctx.out(`created user ${u.username} (${u.role}${u.cinemaId ? `, cinema ${u.cinemaId}` : ''})`);
      }),
    );
  user
    .command('list')
    .description('list accounts')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      run(async (s) => {
        const users = await s.users.list(s.by);
        if (o.json) return s.ctx.out(json(users));
        const rows = users.map((u) => [
          u.username,
          u.role,
          u.cinemaId ?? '',
          u.status,
          formatTime(u.createdAt, s.tz),
          formatTime(u.lastLoginAt, s.tz),
        ]);
        for (const l of table(['USERNAME', 'ROLE', 'CINEMA', 'STATUS', 'CREATED', 'LAST LOGIN'], rows))
          s.ctx.out(l);
      }),
    );
  for (const [name, verb] of [
    ['disable', 'disabled'],
    ['enable', 'enabled'],
  ] as const) {
    user
      .command(`${name} <username>`)
      .description(name === 'disable' ? 'disable an account and end its sessions' : 'enable an account again')
      .action((username: string) =>
        run(async (s) => {
          const u = await (name === 'disable'
            ? s.users.disable(s.by, username)
            : s.users.enable(s.by, username));
          s.ctx.out(`user ${u.username} ${verb}`);
        }),
      );
  }
  user
    .command('password <username>')
    .description("set a new password and end the account's sessions")
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action((username: string, o: { passwordStdin?: boolean }) =>
      run(async (s) => {
        const password = await readPassword(o.passwordStdin);
        const u = await s.users.resetPassword(s.by, username, password);
        s.ctx.out(`password of ${u.username} changed; their sessions were ended`);
      }),
    );
}
