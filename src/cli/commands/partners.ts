import { Option } from 'commander';
import type { PartnerView, PriceTarget } from '../../domain/admin/partner-views.js';
import { INTERFACE_NAMES } from '../../domain/interface-names.js';
import { formatYuan } from '../../domain/money.js';
import { intArg, listArg } from '../args.js';
import { fields, formatTime, json, table } from '../output.js';
import { type Runner, UsageError } from '../runner.js';

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

function target(opts: { cinema?: string; kind?: string }): PriceTarget {
  if ((opts.cinema === undefined) === (opts.kind === undefined)) {
    throw new UsageError('give exactly one of --cinema ID or --kind ID');
  }
  return opts.cinema !== undefined ? { type: 'cinema', id: opts.cinema } : { type: 'kind', id: opts.kind! };
}

function interfaceArgs(names: string[]): string[] {
  return names.flatMap((n) => (n === 'all' ? INTERFACE_NAMES : listArg(n)));
}

/** Sales channels: the partners, their keys, callback events and own prices. */
export function registerPartnerCommands({ group, run, err }: Runner): void {
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
}
