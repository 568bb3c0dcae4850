import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { CardAdminService, type AdminCardView, type CardSearch } from '../domain/admin/card-admin.service.js';
import { formatDateTime } from '../domain/dates.js';
import { AppError } from '../errors.js';
import { ReportService, type DashboardFigures } from '../domain/admin/report.service.js';
import { CardService } from '../domain/card.service.js';
import { formatYuan } from '../domain/money.js';
import { Registry } from '../domain/registry.js';
import { maskMobile } from '../domain/sms-template.js';
import { type CliContext, withCli } from './context.js';

/** Card, redemption and reconciliation commands. */
export function registerCardCommands(program: Command): void {
  const card = program.command('card').description('look up, ban and resend cards');

  card
    .command('show')
    .description('a card with its ledger, SMS messages, redemptions and audit trail')
    .argument('<card_no>', '16-digit card number')
    .option('--json', 'print JSON')
    .action((cardNo: string, opts: { json?: boolean }) =>
      withCli(async (ctx) => {
        const admin = await cardAdmin(ctx);
        const detail = await admin.show(cardNo);
        const tz = ctx.config.timeZone;
        if (opts.json) return printJson(ctx, detail);
        for (const line of describeCard(detail.card, tz)) ctx.out(line);
        ctx.out('');
        ctx.out('ledger:');
        table(
          ctx,
          ['seq', 'time', 'event', 'actor', 'data'],
          detail.events.map((e) => [
            String(e.seq),
            formatDateTime(e.at, tz),
            e.type,
            e.actor,
            JSON.stringify(presentJson(e.data, tz)),
          ]),
        );
        ctx.out('');
        ctx.out('sms:');
        table(
          ctx,
          ['id', 'queued', 'reason', 'mobile', 'state', 'attempts', 'sent', 'last error'],
          detail.sms.map((m) => [
            m.id,
            formatDateTime(m.created_at, tz),
            m.reason,
            m.mobile,
            m.status,
            String(m.attempts),
            time(m.sent_at, tz),
            m.last_error ?? '',
          ]),
        );
        ctx.out('');
        ctx.out('redemptions:');
        table(
          ctx,
          ['id', 'time', 'cinema', 'tickets', 'user', 'undone'],
          detail.redemptions.map((r) => [
            r.redemption_id,
            formatDateTime(r.at, tz),
            r.cinema_id,
            String(r.count),
            r.username ?? r.user_id,
            time(r.undone_at, tz),
          ]),
        );
        if (detail.audit.length > 0) {
          ctx.out('');
          ctx.out('audit:');
          table(
            ctx,
            ['time', 'actor', 'action', 'after'],
            detail.audit.map((a) => [formatDateTime(a.at, tz), a.actor, a.action, JSON.stringify(a.after)]),
          );
        }
      }),
    );

  card
    .command('search')
    .description('cards matching every filter given, newest first')
    .option('--card <digits>', 'a card number, or the first digits of one')
    .option('--partner <partner_id>', 'partner id, e.g. CS000001')
    .option('--order <order_no>', "the channel's order number")
    .option('--mobile <mobile>', 'the full mobile number')
    .option('--status <status>', 'inactive | active | used | expired | banned')
    .option('--since <date>', 'created on or after YYYY-MM-DD')
    .option('--until <date>', 'created on or before YYYY-MM-DD')
    .option('--limit <n>', 'at most this many (1-500)', '50')
    .option('--offset <n>', 'skip this many', '0')
    .option('--json', 'print JSON')
    .action(
      (opts: {
        card?: string;
        partner?: string;
        order?: string;
        mobile?: string;
        status?: string;
        since?: string;
        until?: string;
        limit: string;
        offset: string;
        json?: boolean;
      }) =>
        withCli(async (ctx) => {
          const page = await (
            await cardAdmin(ctx)
          ).search({
            cardNo: opts.card,
            partnerId: opts.partner,
            orderNo: opts.order,
            mobile: opts.mobile,
            status: opts.status as CardSearch['status'],
            since: opts.since,
            until: opts.until,
            limit: integer(opts.limit, '--limit'),
            offset: integer(opts.offset, '--offset'),
          });
          const tz = ctx.config.timeZone;
          if (opts.json) return printJson(ctx, page);
          table(
            ctx,
            ['card_no', 'partner', 'target', 'order_no', 'status', 'used', 'total', 'mobile', 'created'],
            page.items.map((c) => [
              c.card_no,
              c.partner_id,
              c.cinema_id ? `cinema ${c.cinema_id}` : `kind ${c.kind_id ?? ''}`,
              c.order_no ?? '',
              c.status,
              `${c.used_count}/${c.count}`,
              formatYuan(c.total_fen),
              c.mobile ?? '',
              formatDateTime(c.created_at, tz),
            ]),
          );
          const end = page.offset + page.items.length;
          ctx.out(`${page.items.length === 0 ? 0 : page.offset + 1}-${end} of ${page.total} cards`);
        }),
    );

  card
    .command('ban')
    .description('ban a card (inactive, or active with no ticket redeemed)')
    .argument('<card_no>', '16-digit card number')
    .requiredOption('--reason <text>', 'why (recorded in the ledger and the audit log)')
    .action((cardNo: string, opts: { reason: string }) =>
      withCli(async (ctx) => {
        const admin = await cardAdmin(ctx);
        const { card: banned, changed } = await admin.ban(ctx.actor, cardNo, opts.reason);
        ctx.out(
          changed
            ? `banned card ${banned.card_no}: ${banned.ban_reason ?? ''}`
            : `card ${banned.card_no} was already banned (${banned.ban_reason ?? 'no reason given'})`,
        );
      }),
    );

  card
    .command('resend')
    .description("queue the card's SMS (with its password) again")
    .argument('<card_no>', '16-digit card number')
    .option('--mobile <mobile>', 'send to this number from now on (a new number needs --reason and --yes)')
    .option('--reason <text>', 'why the SMS goes to a new number (1 to 200 characters)')
    .option('--yes', 'confirm sending the card password to the new number')
    .action((cardNo: string, opts: { mobile?: string; reason?: string; yes?: boolean }) =>
      withCli(async (ctx) => {
        // The CLI runs on the host with the database's credentials: it acts as an admin.
        const by = { actor: ctx.actor, role: 'admin' as const };
        const admin = await cardAdmin(ctx);
        const { card: c, message_id } = await admin
          .resendSms(by, cardNo, { mobile: opts.mobile, reason: opts.reason, confirmed: opts.yes === true })
          .catch((err: unknown) => {
            throw resendRefusal(err);
          });
        ctx.out(`queued SMS ${message_id} for card ${c.card_no} to ${maskMobile(c.mobile)}`);
      }),
    );

  program
    .command('statement')
    .description("a partner's reconciliation statement for one day, as CSV")
    .argument('<partner_id>', 'partner id, e.g. CS000001')
    .argument('<date>', 'YYYY-MM-DD in the platform time zone')
    .option('--out <file>', 'write to this file instead of stdout')
    .action((partnerId: string, date: string, opts: { out?: string }) =>
      withCli(async (ctx) => {
        const st = await new ReportService({ db: ctx.db, timeZone: ctx.config.timeZone }).statement(
          partnerId,
          date,
        );
        if (!opts.out) {
          process.stdout.write(st.csv);
          return;
        }
        await fs.writeFile(opts.out, st.csv, 'utf8');
        ctx.out(
          `wrote ${opts.out}: activations ${st.activations} (${formatYuan(st.activation_fen)}), ` +
            `voids ${st.voids} (${formatYuan(st.void_fen)}), net ${formatYuan(st.net_fen)}`,
        );
      }),
    );

  program
    .command('report')
    .description('reports')
    .command('dashboard')
    .description('cards issued, activated, voided and redeemed per day and partner; SMS delivery')
    .requiredOption('--since <date>', 'first day, YYYY-MM-DD')
    .requiredOption('--until <date>', 'last day, YYYY-MM-DD (inclusive)')
    .option('--partner <partner_id>', 'one partner only')
    .option('--json', 'print JSON')
    .action((opts: { since: string; until: string; partner?: string; json?: boolean }) =>
      withCli(async (ctx) => {
        const d = await new ReportService({ db: ctx.db, timeZone: ctx.config.timeZone }).dashboard(
          opts.since,
          opts.until,
          { partnerId: opts.partner },
        );
        if (opts.json) return printJson(ctx, d);
        const header = ['issued', 'activated', 'amount', 'voided', 'amount', 'banned unpaid', 'redeemed'];
        const figures = (f: DashboardFigures) => [
          String(f.issued),
          String(f.activated),
          formatYuan(f.activated_fen),
          String(f.voided),
          formatYuan(f.voided_fen),
          String(f.banned_unpaid),
          String(f.redeemed_tickets),
        ];
        ctx.out(`dashboard ${d.from_day} .. ${d.to_day} (${d.time_zone})`);
        table(
          ctx,
          ['day', ...header, 'sms delivered'],
          d.days.map((day) => [day.day, ...figures(day), rate(day.sms.delivery_rate)]),
        );
        ctx.out('');
        table(
          ctx,
          ['partner', ...header],
          d.partners.map((p) => [p.partner_id, ...figures(p)]),
        );
        ctx.out('');
        table(ctx, ['total', ...header], [['', ...figures(d.totals)]]);
        ctx.out(
          `sms: ${d.sms.sent} sent, ${d.sms.failed} failed, ${d.sms.queued} queued; delivered ${rate(d.sms.delivery_rate)}`,
        );
      }),
    );

  program
    .command('sms')
    .description('SMS messages')
    .command('list')
    .description('SMS messages, newest first, with their delivery state')
    .option('--status <state>', 'queued | sent | failed')
    .option('--card <card_no>', "one card's messages")
    .option('--limit <n>', 'at most this many (1-500)', '50')
    .option('--offset <n>', 'skip this many', '0')
    .option('--json', 'print JSON')
    .action((opts: { status?: string; card?: string; limit: string; offset: string; json?: boolean }) =>
      withCli(async (ctx) => {
        const page = await (
          await cardAdmin(ctx)
        ).smsLog({
          status: opts.status as 'queued' | 'sent' | 'failed' | undefined,
          cardNo: opts.card,
          limit: integer(opts.limit, '--limit'),
          offset: integer(opts.offset, '--offset'),
        });
        const tz = ctx.config.timeZone;
        if (opts.json) return printJson(ctx, page);
        table(
          ctx,
          ['id', 'card_no', 'queued', 'reason', 'mobile', 'state', 'attempts', 'sent', 'last error'],
          page.items.map((m) => [
            m.id,
            m.card_no,
            formatDateTime(m.created_at, tz),
            m.reason,
            m.mobile,
            m.status,
            String(m.attempts),
            time(m.sent_at, tz),
            m.last_error ?? '',
          ]),
        );
        ctx.out(`${page.items.length} of ${page.total} messages`);
      }),
    );
}

async function cardAdmin(ctx: CliContext): Promise<CardAdminService> {
  const registry = await Registry.load(ctx.db);
  const cards = new CardService(
    registry,
    ctx.clock,
    {
      timeZone: ctx.config.timeZone,
      payDeadlineMin: ctx.config.payDeadlineMin,
      cinemaValidDays: ctx.config.cinemaValidDays,
      smsTemplate: ctx.config.smsTemplate,
    },
    ctx.secrets(),
  );
  return new CardAdminService({
    db: ctx.db,
    clock: ctx.clock,
    timeZone: ctx.config.timeZone,
    cards,
    registry,
  });
}

function describeCard(c: AdminCardView, tz: string): string[] {
  const target = c.cinema_id ? `cinema ${c.cinema_id}` : `kind ${c.kind_id ?? ''}`;
  const lines = [
    `card ${c.card_no}  ${c.status}`,
    `  partner ${c.partner_id}, ${target}, order ${c.order_no ?? '-'}`,
    `  tickets ${c.count}, used ${c.used_count}, remaining ${c.remaining}; price ${formatYuan(c.price_fen)}, total ${formatYuan(c.total_fen)}`,
    `  mobile ${c.mobile ?? '-'}, sms ${c.sms_status}`,
    `  created ${formatDateTime(c.created_at, tz)}, pay by ${formatDateTime(c.pay_deadline, tz)}`,
  ];
  if (c.paid_at !== null) lines.push(`  paid ${time(c.paid_at, tz)}, valid until ${time(c.valid_until, tz)}`);
  if (c.banned_at !== null) lines.push(`  banned ${time(c.banned_at, tz)}: ${c.ban_reason ?? ''}`);
  if (c.expired_at !== null) lines.push(`  expired ${time(c.expired_at, tz)}`);
  return lines;
}

function time(ms: number | null, tz: string): string {
  return ms === null ? '' : formatDateTime(ms, tz);
}

function rate(r: number | null): string {
  return r === null ? '-' : `${(r * 100).toFixed(1)}%`;
}

function integer(text: string, name: string): number {
  if (!/^[0-9]{1,9}$/.test(text)) throw new AppError('invalid', `${name} must be a whole number`);
  return Number(text);
}

const TIME_KEY = /(_at|_until|_deadline)$/;

/** For JSON output: fen as yuan strings (`*_fen` → `*_yuan`), instants as local date-times. */
function presentJson(value: unknown, tz: string): unknown {
  if (Array.isArray(value)) return value.map((v) => presentJson(v, tz));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'number' && k.endsWith('_fen')) out[k.replace(/_fen$/, '_yuan')] = formatYuan(v);
    else if (typeof v === 'number' && TIME_KEY.test(k)) out[k] = formatDateTime(v, tz);
    else out[k] = presentJson(v, tz);
  }
  return out;
}

function printJson(ctx: CliContext, value: unknown): void {
  ctx.out(JSON.stringify(presentJson(value, ctx.config.timeZone), null, 2));
}

function table(ctx: CliContext, header: string[], rows: string[][]): void {
  if (rows.length === 0) {
    ctx.out('  (none)');
    return;
  }
  const width = (s: string) => [...s].reduce((w, ch) => w + (/[\u1100-\uffff]/.test(ch) ? 2 : 1), 0);
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
      .join('  ')
      .trimEnd();
  ctx.out(line(header));
  for (const r of rows) ctx.out(line(r));
}

/** The options to add, for the refusals of a resend to a new number. */
function resendRefusal(err: unknown): unknown {
  if (!(err instanceof AppError)) return err;
  if (err.code === 'confirmation_required') {
    return new Error('sending the card password to a new mobile needs --yes (and --reason TEXT)');
  }
  if (err.code === 'reason_required') {
    return new Error('sending the card password to a new mobile needs --reason TEXT (1 to 200 characters)');
  }
  return err;
}
