import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Role } from '../db/schema.js';
import { type Actor, AuditService, type AuditEntryView } from '../domain/admin/audit.service.js';
import {
  CatalogAdminService,
  type CinemaView,
  type KindView,
} from '../domain/admin/catalog-admin.service.js';
import {
  PartnerAdminService,
  type PartnerView,
  type PriceTarget,
} from '../domain/admin/partner-admin.service.js';
import { CallbackPolicy } from '../domain/callback-policy.js';
import { CINEMA_CSV_COLUMNS } from '../domain/admin/catalog-import.js';
import { ROLES, UserService } from '../domain/admin/user.service.js';
import { formatYuan } from '../domain/money.js';
import { formatYmdHis, parseTimestamp } from '../domain/time.js';
import { INTERFACE_NAMES } from '../http/partner/interfaces.js';
import { type CliContext, withCli } from './context.js';

/** The operator commands never need the secret key. */
type AdminContext = Omit<CliContext, 'secrets'>;

/** What the commands need from the outside world; tests replace parts of it. */
export interface AdminCliDeps {
  withCli: <T>(fn: (ctx: AdminContext) => Promise<T>) => Promise<T>;
  /** Writes text to stderr (errors, warnings, progress). */
  writeErr: (text: string) => void;
  /** The whole of stdin. */
  readStdin: () => Promise<string>;
  /** Asks for a secret on the terminal without echoing it. */
  promptSecret: (question: string) => Promise<string>;
  exit: (code: number) => never;
}

const PROGRESS_FROM = 500;

/** A mistake in how a command was called: exit code 2. */
class UsageError extends Error {}

const defaultDeps = (): AdminCliDeps => ({
  withCli,
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

// ---- plain-text output

const WIDE =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{3fffd}]/u;

/** Terminal columns a string takes: CJK characters take two. */
function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += WIDE.test(ch) ? 2 : 1;
  return w;
}

function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) =>
    Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - displayWidth(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

function fields(pairs: [string, string][]): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

function formatTime(ms: number | null, tz: string): string {
  if (ms === null) return '';
  const s = formatYmdHis(ms, tz);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)} ${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}`;
}

function permissionsText(p: PartnerView): string {
  if (p.permissions.length === INTERFACE_NAMES.length) return 'all';
  return p.permissions.length ? p.permissions.join(',') : 'none';
}

function partnerFields(p: PartnerView, tz: string): [string, string][] {
  return [
    ['partner_id', p.partnerId],
    ['name', p.name],
    ['bus_id', p.busId],
    ['status', p.status],
    ['permissions', permissionsText(p)],
    ['ip_allow', p.ipAllow.join(',') || 'any'],
    ['rate_limit', p.rateLimit ? `${p.rateLimit}/s` : 'none'],
    ['created_at', formatTime(p.createdAt, tz)],
  ];
}

function cinemaFields(c: CinemaView): [string, string][] {
  return [
    ['cinema_id', c.cinemaId],
    ['name', c.name],
    ['city/region', `${c.cityId}/${c.regionId}`],
    ['price', formatYuan(c.priceFen)],
    ['market_price', formatYuan(c.marketPriceFen)],
    ['valid_days', String(c.validDays)],
    ['active', c.active ? 'yes' : 'no'],
  ];
}

function kindFields(k: KindView): [string, string][] {
  return [
    ['kind_id', k.kindId],
    ['name', k.name],
    ['price', formatYuan(k.priceFen)],
    ['market_price', formatYuan(k.marketPriceFen)],
    ['valid_days', String(k.validDays)],
    ['active', k.active ? 'yes' : 'no'],
    ['cinemas', k.cinemaIds.join(',') || 'none'],
  ];
}

/** What changed, in one line: `field: old → new`, or the record for a creation or removal. */
function describeChange(e: AuditEntryView): string {
  const short = (v: unknown) => {
    const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  const { before, after } = e;
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
      .map((k) => `${k}: ${short(before[k])} → ${short(after[k])}`)
      .join('; ');
  }
  if (e.after !== null) return `+ ${JSON.stringify(e.after)}`;
  if (e.before !== null) return `- ${JSON.stringify(e.before)}`;
  return '';
}

// ---- argument parsing

const intArg =
  (min: number, max: number) =>
  (value: string): number => {
    if (!/^-?[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return Number(value);
  };

const listArg = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function dateArg(value: string): string {
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(value))
    throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return value;
}

function target(opts: { cinema?: string; kind?: string }): PriceTarget {
  if ((opts.cinema === undefined) === (opts.kind === undefined)) {
    throw new UsageError('give exactly one of --cinema ID or --kind ID');
  }
  return opts.cinema !== undefined ? { type: 'cinema', id: opts.cinema } : { type: 'kind', id: opts.kind! };
}

function interfaceArgs(names: string[]): string[] {
  return names.flatMap((n) => (n === 'all' ? INTERFACE_NAMES : listArg(n)));
}

// ---- the commands

interface Services {
  ctx: AdminContext;
  /** The console operator acts as an admin. */
  by: Actor;
  tz: string;
  users: UserService;
  partners: PartnerAdminService;
  catalog: CatalogAdminService;
  audit: AuditService;
}

/** Operator commands: users, partners, keys, prices, catalog, audit. */
export function registerAdminCommands(program: Command, overrides: Partial<AdminCliDeps> = {}): void {
  const deps = { ...defaultDeps(), ...overrides };
  const err = (line: string) => deps.writeErr(`${line}\n`);

  /** Runs a command body with the database open; turns failures into one line and an exit code. */
  const run = async (body: (s: Services) => Promise<void>): Promise<void> => {
    try {
      await deps.withCli(async (ctx) => {
        const role: Role = 'admin';
        await body({
          ctx,
          by: { actor: ctx.actor, role },
          tz: ctx.config.timeZone,
          users: new UserService(ctx.db, ctx.clock),
          partners: new PartnerAdminService(ctx.db, ctx.clock, new CallbackPolicy(ctx.config.callbackAllow)),
          catalog: new CatalogAdminService(ctx.db, ctx.clock),
          audit: new AuditService(ctx.db),
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

  /** A top-level command whose usage errors exit with 2 and print one line. */
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

  // users
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

  // partners
  const partner = group('partner', 'sales channels: create, edit, suspend, grant interfaces');
  const interfacesHelp = `interfaces: ${INTERFACE_NAMES.join(', ')} (or all)`;
  partner
    .command('create')
    .description('create a partner; the platform assigns partner_id and bus_id')
    .requiredOption('--name <name>', 'display name')
    .option('--prefix <XY>', 'two upper-case letters the partner_id starts with', 'MT')
    .option('--permissions <list>', `comma-separated ${interfacesHelp}; default all`)
    .option('--ip-allow <list>', 'comma-separated caller IPs; default any')
    .option('--rate-limit <n>', 'requests per second, 0 = no limit', intArg(0, 100_000))
    .option('--json', 'print JSON')
    .action(
      (o: {
        name: string;
        prefix: string;
        permissions?: string;
        ipAllow?: string;
        rateLimit?: number;
        json?: boolean;
      }) =>
        run(async (s) => {
          const p = await s.partners.create(s.by, {
            name: o.name,
            prefix: o.prefix,
            permissions: o.permissions === undefined ? undefined : interfaceArgs([o.permissions]),
            ipAllow: o.ipAllow === undefined ? undefined : listArg(o.ipAllow),
            rateLimit: o.rateLimit,
          });
          if (o.json) return s.ctx.out(json(p));
          s.ctx.out(`created partner ${p.partnerId}`);
          for (const l of fields(partnerFields(p, s.tz))) s.ctx.out(l);
          s.ctx.out(`next: movticket key create ${p.partnerId}`);
        }),
    );
  partner
    .command('list')
    .description('list partners')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      run(async (s) => {
        const list = await s.partners.list(s.by);
        if (o.json) return s.ctx.out(json(list));
        const rows = list.map((p) => [
          p.partnerId,
          p.name,
          p.busId,
          p.status,
          String(p.activeKeys),
          p.rateLimit ? String(p.rateLimit) : '-',
          p.ipAllow.join(',') || 'any',
          permissionsText(p),
        ]);
        for (const l of table(
          ['PARTNER', 'NAME', 'BUS_ID', 'STATUS', 'KEYS', 'RATE', 'IP_ALLOW', 'PERMISSIONS'],
          rows,
        )) {
          s.ctx.out(l);
        }
      }),
    );
  partner
    .command('show <partner_id>')
    .description('show a partner with its keys (sec_id, never md5key) and own prices')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      run(async (s) => {
        const p = await s.partners.show(s.by, id);
        if (o.json) return s.ctx.out(json(p));
        for (const l of fields(partnerFields(p, s.tz))) s.ctx.out(l);
        s.ctx.out('');
        const keys = (p.keys ?? []).map((k) => [
          k.secId,
          k.signMode,
          k.status,
          formatTime(k.createdAt, s.tz),
          formatTime(k.revokedAt, s.tz),
        ]);
        if (keys.length)
          for (const l of table(['SEC_ID', 'MODE', 'STATUS', 'CREATED', 'REVOKED'], keys)) s.ctx.out(l);
        else s.ctx.out('no keys');
        s.ctx.out('');
        const prices = p.prices.map((x) => [x.targetType, x.targetId, formatYuan(x.priceFen)]);
        if (prices.length) for (const l of table(['TARGET', 'ID', 'PRICE'], prices)) s.ctx.out(l);
        else s.ctx.out('no own prices (default prices apply)');
      }),
    );
  partner
    .command('set <partner_id>')
    .description("edit a partner's name, IP allow-list, rate limit or callback URL")
    .option('--name <name>', 'display name')
    .option('--ip-allow <list>', "comma-separated caller IPs; '' allows any")
    .option('--rate-limit <n>', 'requests per second, 0 = no limit', intArg(0, 100_000))
    .option('--callback-url <url>', "where card events are POSTed (see 'notify'); '' removes it")
    .action((id: string, o: { name?: string; ipAllow?: string; rateLimit?: number; callbackUrl?: string }) =>
      run(async (s) => {
        const edits = o.name !== undefined || o.ipAllow !== undefined || o.rateLimit !== undefined;
        if (!edits && o.callbackUrl === undefined) {
          throw new UsageError('nothing to change: give --name, --ip-allow, --rate-limit or --callback-url');
        }
        if (o.callbackUrl !== undefined) {
          const cb = await s.partners.setCallback(s.by, id, o.callbackUrl);
          s.ctx.out(`partner ${cb.partnerId} callback_url: ${cb.callbackUrl ?? 'none'}`);
        }
        if (!edits) return;
        const p = await s.partners.edit(s.by, id, {
          name: o.name,
          ipAllow: o.ipAllow === undefined ? undefined : listArg(o.ipAllow),
          rateLimit: o.rateLimit,
        });
        s.ctx.out(`updated partner ${p.partnerId}`);
        for (const l of fields(partnerFields(p, s.tz))) s.ctx.out(l);
      }),
    );
  for (const name of ['suspend', 'resume'] as const) {
    partner
      .command(`${name} <partner_id>`)
      .description(
        name === 'suspend' ? 'refuse every call of the partner (403)' : 'let a suspended partner call again',
      )
      .action((id: string) =>
        run(async (s) => {
          const p = await (name === 'suspend' ? s.partners.suspend(s.by, id) : s.partners.resume(s.by, id));
          s.ctx.out(`partner ${p.partnerId} is ${p.status}`);
        }),
      );
  }
  for (const name of ['grant', 'revoke'] as const) {
    partner
      .command(`${name} <partner_id> <interface...>`)
      .description(`${name} interfaces; ${interfacesHelp}`)
      .action((id: string, names: string[]) =>
        run(async (s) => {
          const list = interfaceArgs(names);
          const p = await (name === 'grant'
            ? s.partners.grant(s.by, id, list)
            : s.partners.revoke(s.by, id, list));
          s.ctx.out(`partner ${p.partnerId} may call: ${permissionsText(p)}`);
        }),
      );
  }

  // keys
  const key = group('key', "partners' security configs (sec_id + md5key)");
  key
    .command('create <partner_id>')
    .description('add a sec_id with a fresh md5key, shown once; old keys keep working until revoked')
    .option('--sec-id <id>', '1-32 letters, digits or _; default k1, k2, …')
    .addOption(new Option('--mode <mode>', 'sign mode').choices(['full', 'basic']).default('full'))
    .option('--json', 'print JSON')
    .action((id: string, o: { secId?: string; mode: 'basic' | 'full'; json?: boolean }) =>
      run(async (s) => {
        const k = await s.partners.createKey(s.by, id, { secId: o.secId, signMode: o.mode });
        if (o.json) s.ctx.out(json(k));
        else {
          s.ctx.out(`created sec_id ${k.secId} (sign mode ${k.signMode}) for partner ${k.partnerId}`);
          s.ctx.out(`md5key  ${k.md5key}`);
        }
        err('warning: store this md5key now and hand it to the partner securely; it cannot be shown again');
      }),
    );
  key
    .command('list <partner_id>')
    .description("list a partner's sec_ids (never their md5keys)")
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      run(async (s) => {
        const keys = await s.partners.listKeys(s.by, id);
        if (o.json) return s.ctx.out(json(keys));
        const rows = keys.map((k) => [
          k.secId,
          k.signMode,
          k.status,
          formatTime(k.createdAt, s.tz),
          formatTime(k.revokedAt, s.tz),
        ]);
        for (const l of table(['SEC_ID', 'MODE', 'STATUS', 'CREATED', 'REVOKED'], rows)) s.ctx.out(l);
      }),
    );
  key
    .command('revoke <partner_id> <sec_id>')
    .description('revoke a sec_id: calls signed with it get 401 unknown_partner')
    .action((id: string, secId: string) =>
      run(async (s) => {
        const k = await s.partners.revokeKey(s.by, id, secId);
        s.ctx.out(`revoked sec_id ${k.secId} of partner ${id}`);
      }),
    );

  // partner notify
  const notify = group('notify', "card events POSTed to partners' callback URLs: delivery log, retry");
  notify
    .command('list <partner_id>')
    .description("the partner's callback URL and its newest events with their delivery state")
    .option('--limit <n>', 'events to show', intArg(1, 500), 50)
    .option('--json', 'print JSON')
    .action((id: string, o: { limit: number; json?: boolean }) =>
      run(async (s) => {
        const log = await s.partners.notifyLog(s.by, id, o.limit);
        if (o.json) return s.ctx.out(json(log));
        s.ctx.out(`callback_url  ${log.callbackUrl ?? 'none (no events are recorded)'}`);
        s.ctx.out('');
        const rows = log.events.map((e) => [
          e.eventId,
          formatTime(e.createdAt, s.tz),
          e.cardNo,
          e.type,
          e.status,
          String(e.attempts),
          [e.lastStatus === null ? '' : `HTTP ${e.lastStatus}`, e.lastError ?? '']
            .filter(Boolean)
            .join(' ')
            .slice(0, 60),
        ]);
        if (rows.length)
          for (const l of table(
            ['EVENT_ID', 'CREATED', 'CARD', 'TYPE', 'STATUS', 'TRIES', 'LAST ERROR'],
            rows,
          ))
            s.ctx.out(l);
        else s.ctx.out('no events');
      }),
    );
  notify
    .command('retry <event_id>')
    .description('deliver an event again now, with the same event_id')
    .action((eventId: string) =>
      run(async (s) => {
        const e = await s.partners.retryNotify(s.by, eventId);
        s.ctx.out(`event ${e.eventId} (${e.type}, card ${e.cardNo}) queued for partner ${e.partnerId}`);
      }),
    );

  // partner prices
  const price = group('price', "partners' own settlement prices per cinema or kind");
  price
    .command('set <partner_id> <price>')
    .description("set the partner's own price in yuan, e.g. 35.00")
    .option('--cinema <cinema_id>', 'for a cinema')
    .option('--kind <kind_id>', 'for a kind')
    .action((id: string, amount: string, o: { cinema?: string; kind?: string }) =>
      run(async (s) => {
        const t = target(o);
        const p = await s.partners.setPrice(s.by, id, t, amount);
        s.ctx.out(`partner ${id} pays ${formatYuan(p.priceFen)} for ${p.targetType} ${p.targetId}`);
      }),
    );
  price
    .command('clear <partner_id>')
    .description("remove the partner's own price; the default applies again")
    .option('--cinema <cinema_id>', 'for a cinema')
    .option('--kind <kind_id>', 'for a kind')
    .action((id: string, o: { cinema?: string; kind?: string }) =>
      run(async (s) => {
        const t = target(o);
        await s.partners.clearPrice(s.by, id, t);
        s.ctx.out(`partner ${id} pays the default price for ${t.type} ${t.id} again`);
      }),
    );

  // catalog
  const catalog = group('catalog', 'cities, regions, cinemas, kinds; CSV import');
  catalog
    .command('list')
    .description('list the catalog')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      run(async (s) => {
        const c = await s.catalog.list(s.by);
        if (o.json) return s.ctx.out(json(c));
        const out = (lines: string[]) => lines.forEach((l) => s.ctx.out(l));
        out(
          table(
            ['CITY', 'NAME', 'REMARK', 'SORT'],
            c.cities.map((x) => [x.codeId, x.name, x.remark, String(x.sort)]),
          ),
        );
        s.ctx.out('');
        out(
          table(
            ['REGION', 'CITY', 'NAME', 'REMARK', 'SORT'],
            c.regions.map((x) => [x.codeId, x.cityId, x.name, x.remark, String(x.sort)]),
          ),
        );
        s.ctx.out('');
        out(
          table(
            ['CINEMA', 'NAME', 'CITY', 'REGION', 'PRICE', 'MARKET', 'DAYS', 'ACTIVE'],
            c.cinemas.map((x) => [
              x.cinemaId,
              x.name,
              x.cityId,
              x.regionId,
              formatYuan(x.priceFen),
              formatYuan(x.marketPriceFen),
              String(x.validDays),
              x.active ? 'yes' : 'no',
            ]),
          ),
        );
        s.ctx.out('');
        out(
          table(
            ['KIND', 'NAME', 'PRICE', 'MARKET', 'DAYS', 'ACTIVE', 'CINEMAS'],
            c.kinds.map((x) => [
              x.kindId,
              x.name,
              formatYuan(x.priceFen),
              formatYuan(x.marketPriceFen),
              String(x.validDays),
              x.active ? 'yes' : 'no',
              x.cinemaIds.join(','),
            ]),
          ),
        );
      }),
    );
  catalog
    .command('import <file>')
    .description('create or update cinemas from a CSV file; a file with any bad row imports nothing')
    .addHelpText(
      'after',
      `\nThe file is UTF-8 CSV with this header row (columns in any order):\n  ${CINEMA_CSV_COLUMNS.join(',')}\n` +
        'Cities and regions are created when missing. valid_days and active may be empty (kept, or 90 and 1).\n' +
        'Rows are numbered as in a spreadsheet: the header is row 1.',
    )
    .option('--dry-run', 'check the file and report what would change, writing nothing')
    .option('--json', 'print the report as JSON')
    .action((file: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(async (s) => {
        let csv: string;
        try {
          csv = new TextDecoder('utf-8', { fatal: true }).decode(await fs.readFile(file));
        } catch (e) {
          const code = (e as { code?: string }).code;
          throw new Error(
            code ? `cannot read ${file}: ${code}` : `${file} is not UTF-8 text; save it as "CSV UTF-8"`,
          );
        }
        const report = await s.catalog.importCinemas(s.by, csv, {
          dryRun: o.dryRun,
          source: path.basename(file),
          // Only long jobs report progress.
          onProgress: (p) => {
            if (p.total < PROGRESS_FROM) return;
            err(
              p.phase === 'check'
                ? `checked ${p.done}/${p.total} rows`
                : `wrote ${p.done}/${p.total} cinemas`,
            );
          },
        });
        if (o.json) s.ctx.out(json(report));
        else {
          const verb = report.applied ? '' : ' to';
          s.ctx.out(
            `${report.rows} rows: ${report.created} cinemas${verb} create, ${report.updated}${verb} update, ` +
              `${report.unchanged} unchanged; ${report.citiesCreated} cities and ${report.regionsCreated} regions${verb} create`,
          );
          if (report.errors.length) {
            for (const l of table(
              ['ROW', 'COLUMN', 'PROBLEM'],
              report.errors.map((e) => [String(e.row), e.column, e.message]),
            )) {
              s.ctx.out(l);
            }
          }
        }
        if (report.errors.length) {
          const n = report.errors.length;
          throw new Error(`${n} problem${n > 1 ? 's' : ''} in ${file}; nothing was imported`);
        }
        if (report.dryRun) s.ctx.out('dry run: nothing was written');
      }),
    );

  const city = catalog.command('city').description('cities');
  city
    .command('add <code_id>')
    .description('add a city (3-digit code_id)')
    .requiredOption('--name <name>', 'e.g. 北京')
    .option('--remark <remark>', 'pinyin abbreviation, e.g. bj')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { name: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const c = await s.catalog.createCity(s.by, { codeId, ...o });
        s.ctx.out(`created city ${c.codeId} ${c.name}`);
      }),
    );
  city
    .command('set <code_id>')
    .description('edit a city')
    .option('--name <name>', 'name')
    .option('--remark <remark>', 'pinyin abbreviation')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { name?: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const c = await s.catalog.editCity(s.by, codeId, o);
        s.ctx.out(`city ${c.codeId}: ${c.name} (${c.remark}), sort ${c.sort}`);
      }),
    );

  const region = catalog.command('region').description('regions (districts) of a city');
  region
    .command('add <code_id>')
    .description('add a region to a city')
    .requiredOption('--city <code_id>', 'the city')
    .requiredOption('--name <name>', 'e.g. 朝阳区')
    .option('--remark <remark>', 'pinyin abbreviation')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { city: string; name: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const r = await s.catalog.createRegion(s.by, {
          codeId,
          cityId: o.city,
          name: o.name,
          remark: o.remark,
          sort: o.sort,
        });
        s.ctx.out(`created region ${r.codeId} ${r.name} in city ${r.cityId}`);
      }),
    );
  region
    .command('set <code_id>')
    .description('edit a region')
    .option('--name <name>', 'name')
    .option('--remark <remark>', 'pinyin abbreviation')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { name?: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const r = await s.catalog.editRegion(s.by, codeId, o);
        s.ctx.out(`region ${r.codeId}: ${r.name} (${r.remark}), sort ${r.sort}`);
      }),
    );

  const cinema = catalog.command('cinema').description('cinemas and their default and market prices');
  cinema
    .command('add <cinema_id>')
    .description('add a cinema')
    .requiredOption('--region <region_id>', 'the region (the city follows from it)')
    .requiredOption('--name <name>', 'name')
    .requiredOption('--price <yuan>', 'default settlement price, e.g. 35.00')
    .requiredOption('--market-price <yuan>', 'market (face) price')
    .option('--address <text>', 'address')
    .option('--tel <text>', 'telephone')
    .option('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .option('--inactive', 'create it inactive')
    .action(
      (
        cinemaId: string,
        o: {
          region: string;
          name: string;
          price: string;
          marketPrice: string;
          address?: string;
          tel?: string;
          validDays?: number;
          inactive?: boolean;
        },
      ) =>
        run(async (s) => {
          const { region: regionId, inactive, ...rest } = o;
          const c = await s.catalog.createCinema(s.by, { cinemaId, regionId, ...rest, active: !inactive });
          s.ctx.out(`created cinema ${c.cinemaId}`);
          for (const l of fields(cinemaFields(c))) s.ctx.out(l);
        }),
    );
  cinema
    .command('set <cinema_id>')
    .description('edit a cinema, including its default and market prices')
    .option('--region <region_id>', 'move it to another region')
    .option('--name <name>', 'name')
    .option('--price <yuan>', 'default settlement price')
    .option('--market-price <yuan>', 'market (face) price')
    .option('--address <text>', 'address')
    .option('--tel <text>', 'telephone')
    .option('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .action(
      (
        cinemaId: string,
        o: {
          region?: string;
          name?: string;
          price?: string;
          marketPrice?: string;
          address?: string;
          tel?: string;
          validDays?: number;
        },
      ) =>
        run(async (s) => {
          const { region: regionId, ...rest } = o;
          const c = await s.catalog.editCinema(s.by, cinemaId, { regionId, ...rest });
          s.ctx.out(`updated cinema ${c.cinemaId}`);
          for (const l of fields(cinemaFields(c))) s.ctx.out(l);
        }),
    );
  for (const name of ['activate', 'deactivate'] as const) {
    cinema
      .command(`${name} <cinema_id>`)
      .description(name === 'activate' ? 'offer the cinema to partners' : 'stop offering the cinema')
      .action((cinemaId: string) =>
        run(async (s) => {
          const c = await s.catalog.setCinemaActive(s.by, cinemaId, name === 'activate');
          s.ctx.out(`cinema ${c.cinemaId} is ${c.active ? 'active' : 'inactive'}`);
        }),
      );
  }

  const kind = catalog.command('kind').description('card kinds, their cinemas and prices');
  kind
    .command('add <kind_id>')
    .description('add a kind')
    .requiredOption('--name <name>', 'e.g. 全国通兑2D券')
    .requiredOption('--price <yuan>', 'default settlement price')
    .requiredOption('--market-price <yuan>', 'market (face) price')
    .requiredOption('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .option('--remark <text>', 'remark')
    .option('--cinemas <list>', 'comma-separated cinema ids where it is accepted')
    .option('--inactive', 'create it inactive')
    .action(
      (
        kindId: string,
        o: {
          name: string;
          price: string;
          marketPrice: string;
          validDays: number;
          remark?: string;
          cinemas?: string;
          inactive?: boolean;
        },
      ) =>
        run(async (s) => {
          const { cinemas, inactive, ...rest } = o;
          const k = await s.catalog.createKind(s.by, {
            kindId,
            ...rest,
            cinemaIds: cinemas === undefined ? [] : listArg(cinemas),
            active: !inactive,
          });
          s.ctx.out(`created kind ${k.kindId}`);
          for (const l of fields(kindFields(k))) s.ctx.out(l);
        }),
    );
  kind
    .command('set <kind_id>')
    .description('edit a kind, including its default and market prices')
    .option('--name <name>', 'name')
    .option('--price <yuan>', 'default settlement price')
    .option('--market-price <yuan>', 'market (face) price')
    .option('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .option('--remark <text>', 'remark')
    .action(
      (
        kindId: string,
        o: { name?: string; price?: string; marketPrice?: string; validDays?: number; remark?: string },
      ) =>
        run(async (s) => {
          const k = await s.catalog.editKind(s.by, kindId, o);
          s.ctx.out(`updated kind ${k.kindId}`);
          for (const l of fields(kindFields(k))) s.ctx.out(l);
        }),
    );
  for (const name of ['activate', 'deactivate'] as const) {
    kind
      .command(`${name} <kind_id>`)
      .description(name === 'activate' ? 'offer the kind to partners' : 'stop offering the kind')
      .action((kindId: string) =>
        run(async (s) => {
          const k = await s.catalog.setKindActive(s.by, kindId, name === 'activate');
          s.ctx.out(`kind ${k.kindId} is ${k.active ? 'active' : 'inactive'}`);
        }),
      );
  }
  kind
    .command('cinemas <kind_id> [cinema_id...]')
    .description('replace the cinemas where the kind is accepted')
    .option('--none', 'accept it nowhere')
    .action((kindId: string, ids: string[], o: { none?: boolean }) =>
      run(async (s) => {
        const list = ids.flatMap(listArg);
        if (!list.length && !o.none) throw new UsageError('give cinema ids, or --none to remove them all');
        if (list.length && o.none) throw new UsageError('--none takes no cinema ids');
        const k = await s.catalog.setKindCinemas(s.by, kindId, list);
        s.ctx.out(`kind ${k.kindId} is accepted at: ${k.cinemaIds.join(',') || 'no cinema'}`);
      }),
    );

  // audit
  group('audit', 'search the audit log, newest first')
    .option('--entity <type>', 'user, partner, city, region, cinema, kind or catalog')
    .option('--id <id>', 'the entity id, e.g. a partner_id')
    .option('--actor <actor>', 'e.g. cli:root or user:alice')
    .option('--action <action>', 'e.g. key.create')
    .option('--since <date>', 'from this day (YYYY-MM-DD, platform time zone)', dateArg)
    .option('--until <date>', 'up to and including this day', dateArg)
    .option('--limit <n>', 'entries per page', intArg(1, 500), 50)
    .option('--offset <n>', 'skip this many entries', intArg(0, 1_000_000_000))
    .option('--json', 'print JSON')
    .action(
      (o: {
        entity?: string;
        id?: string;
        actor?: string;
        action?: string;
        since?: string;
        until?: string;
        limit: number;
        offset?: number;
        json?: boolean;
      }) =>
        run(async (s) => {
          /** Midnight starting the day, `plusDays` later, in the platform time zone. */
          const day = (d: string, opt: string, plusDays = 0) => {
            const ms = parseTimestamp(`${d.replaceAll('-', '')}000000`, s.tz);
            if (ms === null) throw new UsageError(`${opt} ${d} is not a real date`);
            const [y, m, dd] = d.split('-').map(Number) as [number, number, number];
            const next = new Date(Date.UTC(y, m - 1, dd + plusDays)).toISOString().slice(0, 10);
            return parseTimestamp(`${next.replaceAll('-', '')}000000`, s.tz)!;
          };
          const page = await s.audit.search(s.by, {
            entityType: o.entity,
            entityId: o.id,
            actor: o.actor,
            action: o.action,
            since: o.since === undefined ? undefined : day(o.since, '--since'),
            until: o.until === undefined ? undefined : day(o.until, '--until', 1),
            limit: o.limit,
            offset: o.offset,
          });
          if (o.json) return s.ctx.out(json(page));
          const rows = page.entries.map((e) => [
            formatTime(e.at, s.tz),
            e.actor,
            e.action,
            `${e.entityType}:${e.entityId}`,
            describeChange(e),
          ]);
          for (const l of table(['TIME', 'ACTOR', 'ACTION', 'ENTITY', 'CHANGE'], rows)) s.ctx.out(l);
          if (page.nextOffset !== null) s.ctx.out(`more: --offset ${page.nextOffset}`);
        }),
    );
}
