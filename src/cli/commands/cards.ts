import type { Command } from 'commander';
import type { AdminCardView, CardSearch } from '../../domain/admin/card-admin.service.js';
import { formatYuan } from '../../domain/money.js';
import { maskMobile } from '../../domain/sms-template.js';
import { intArg } from '../args.js';
import { formatTime, presentJson, printJson, printTable } from '../output.js';
import { withServices } from '../runner.js';
import { AppError } from '../../errors.js';

/** Card look-ups, bans, the support desk's freeze and unlock, and SMS resends. */
export function registerCardCommands(program: Command): void {
  const card = program.command('card').description('look up, ban, freeze, unlock and resend cards');

  card
    .command('show')
    .description('a card with its ledger, SMS messages, redemptions and audit trail')
    .argument('<card_no>', '16-digit card number')
    .option('--json', 'print JSON')
    .action((cardNo: string, opts: { json?: boolean }) =>
      withServices(async (ctx, services) => {
        const admin = await services.cardAdmin();
        const detail = await admin.show(cardNo);
        const tz = ctx.config.timeZone;
        if (opts.json) return printJson(ctx, detail);
        for (const line of describeCard(detail.card, tz)) ctx.out(line);
        const { lock } = detail;
        ctx.out(
          lock.locked_until === null
            ? `  password: ${lock.wrong_tries} wrong, ${lock.tries_left} tries left`
            : `  password: locked until ${formatTime(lock.locked_until, tz)} after ${lock.wrong_tries} wrong`,
        );
        ctx.out('');
        ctx.out('ledger:');
        printTable(
          ctx,
          ['seq', 'time', 'event', 'actor', 'data'],
          detail.events.map((e) => [
            String(e.seq),
            formatTime(e.at, tz),
            e.type,
            e.actor,
            JSON.stringify(presentJson(e.data, tz)),
          ]),
        );
        ctx.out('');
        ctx.out('sms:');
        printTable(
          ctx,
          ['id', 'queued', 'reason', 'mobile', 'state', 'attempts', 'sent', 'last error'],
          detail.sms.map((m) => [
            m.id,
            formatTime(m.created_at, tz),
            m.reason,
            m.mobile,
            m.status,
            String(m.attempts),
            formatTime(m.sent_at, tz),
            m.last_error ?? '',
          ]),
        );
        ctx.out('');
        ctx.out('redemptions:');
        printTable(
          ctx,
          ['id', 'time', 'cinema', 'tickets', 'user', 'undone'],
          detail.redemptions.map((r) => [
            r.redemption_id,
            formatTime(r.at, tz),
            r.cinema_id,
            String(r.count),
            r.username ?? r.user_id,
            formatTime(r.undone_at, tz),
          ]),
        );
        if (detail.audit.length > 0) {
          ctx.out('');
          ctx.out('audit:');
          printTable(
            ctx,
            ['time', 'actor', 'action', 'after'],
            detail.audit.map((a) => [formatTime(a.at, tz), a.actor, a.action, JSON.stringify(a.after)]),
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
    .option('--mobile <mobile>', 'the full mobile number, or its last 4 digits')
    .option('--cinema <cinema_id>', 'cards valid at this cinema (its own, and kinds that include it)')
    .option('--status <status>', 'inactive | active | used | expired | banned')
    .option('--since <date>', 'created on or after YYYY-MM-DD')
    .option('--until <date>', 'created on or before YYYY-MM-DD')
    .option('--limit <n>', 'at most this many', intArg(1, 500), 50)
    .option('--offset <n>', 'skip this many', intArg(0, 1_000_000_000), 0)
    .option('--json', 'print JSON')
    .action(
      (opts: {
        card?: string;
        partner?: string;
        order?: string;
        mobile?: string;
        cinema?: string;
        status?: string;
        since?: string;
        until?: string;
        limit: number;
        offset: number;
        json?: boolean;
      }) =>
        withServices(async (ctx, services) => {
          const page = await (
            await services.cardAdmin()
          ).search({
            cardNo: opts.card,
            partnerId: opts.partner,
            orderNo: opts.order,
            mobile: opts.mobile,
            cinemaId: opts.cinema,
            status: opts.status as CardSearch['status'],
            since: opts.since,
            until: opts.until,
            limit: opts.limit,
            offset: opts.offset,
          });
          const tz = ctx.config.timeZone;
          if (opts.json) return printJson(ctx, page);
          printTable(
            ctx,
            ['card_no', 'partner', 'target', 'order_no', 'status', 'used', 'total', 'mobile', 'created'],
            page.items.map((c) => [
              c.card_no,
              c.partner_id,
              c.target_name,
              c.order_no ?? '',
              c.status,
              `${c.used_count}/${c.count}`,
              formatYuan(c.total_fen),
              c.mobile ?? '',
              formatTime(c.created_at, tz),
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
      withServices(async (ctx, services) => {
        const admin = await services.cardAdmin();
        const { card: banned, changed } = await admin.ban(ctx.actor, cardNo, opts.reason);
        ctx.out(
          changed
            ? `banned card ${banned.card_no}: ${banned.ban_reason ?? ''}`
            : `card ${banned.card_no} was already banned (${banned.ban_reason ?? 'no reason given'})`,
        );
      }),
    );

  const desk = [
    ['freeze', "freeze an active card's remaining tickets: no cinema redeems it until unfrozen"],
    ['unfreeze', 'let cinemas redeem a frozen card again'],
    ['unlock', "clear the card's wrong-password count, lifting a lock"],
  ] as const;
  for (const [verb, description] of desk) {
    card
      .command(verb)
      .description(description)
      .argument('<card_no>', '16-digit card number')
      .requiredOption(
        '--reason <text>',
        'why (1 to 100 characters; recorded in the ledger and the audit log)',
      )
      .action((cardNo: string, opts: { reason: string }) =>
        withServices(async (ctx, services) => {
          const admin = await services.cardAdmin();
          const { card: c, lock, changed } = await admin[verb](ctx.actor, cardNo, opts.reason);
          const tz = ctx.config.timeZone;
          const state = c.frozen_at === null ? 'not frozen' : `frozen since ${formatTime(c.frozen_at, tz)}`;
          const tries = `${lock.wrong_tries} wrong passwords count`;
          ctx.out(
            `${changed ? `${verb}: done` : `${verb}: nothing to change`}; card ${c.card_no} ${c.status}, ${state}, ${tries}`,
          );
        }),
      );
  }

  card
    .command('resend')
    .description("queue the card's SMS (with its password) again")
    .argument('<card_no>', '16-digit card number')
    .option('--mobile <mobile>', 'send to this number from now on (a new number needs --reason and --yes)')
    .option('--reason <text>', 'why the SMS goes to a new number (1 to 200 characters)')
    .option('--yes', 'confirm sending the card password to the new number')
    .action((cardNo: string, opts: { mobile?: string; reason?: string; yes?: boolean }) =>
      withServices(async (ctx, services) => {
        // The CLI runs on the host with the database's credentials: it acts as an admin.
        const by = { actor: ctx.actor, role: 'admin' as const };
        const admin = await services.cardAdmin();
        const { card: c, message_id } = await admin
          .resendSms(by, cardNo, { mobile: opts.mobile, reason: opts.reason, confirmed: opts.yes === true })
          .catch(async (err: unknown) => {
            throw resendRefusal(err);
          });
        ctx.out(`queued SMS ${message_id} for card ${c.card_no} to ${maskMobile(c.mobile)}`);
      }),
    );
}

/** The SMS log. */
export function registerSmsCommands(program: Command): void {
  program
    .command('sms')
    .description('SMS messages')
    .command('list')
    .description('SMS messages, newest first, with their delivery state')
    .option('--status <state>', 'queued | sent | failed')
    .option('--card <card_no>', "one card's messages")
    .option('--limit <n>', 'at most this many', intArg(1, 500), 50)
    .option('--offset <n>', 'skip this many', intArg(0, 1_000_000_000), 0)
    .option('--json', 'print JSON')
    .action((opts: { status?: string; card?: string; limit: number; offset: number; json?: boolean }) =>
      withServices(async (ctx, services) => {
        const page = await (
          await services.cardAdmin()
        ).smsLog({
          status: opts.status as 'queued' | 'sent' | 'failed' | undefined,
          cardNo: opts.card,
          limit: opts.limit,
          offset: opts.offset,
        });
        const tz = ctx.config.timeZone;
        if (opts.json) return printJson(ctx, page);
        printTable(
          ctx,
          ['id', 'card_no', 'queued', 'reason', 'mobile', 'state', 'attempts', 'sent', 'last error'],
          page.items.map((m) => [
            m.id,
            m.card_no,
            formatTime(m.created_at, tz),
            m.reason,
            m.mobile,
            m.status,
            String(m.attempts),
            formatTime(m.sent_at, tz),
            m.last_error ?? '',
          ]),
        );
        ctx.out(`${page.items.length} of ${page.total} messages`);
      }),
    );
}

function describeCard(c: AdminCardView, tz: string): string[] {
  const target = c.cinema_id
    ? `cinema ${c.cinema_id} ${c.target_name}`
    : `kind ${c.kind_id ?? ''} ${c.target_name}`;
  const lines = [
    `card ${c.card_no}  ${c.status}`,
    `  partner ${c.partner_id}, ${target}, order ${c.order_no ?? '-'}`,
    `  tickets ${c.count}, used ${c.used_count}, remaining ${c.remaining}; price ${formatYuan(c.price_fen)}, total ${formatYuan(c.total_fen)}`,
    `  mobile ${c.mobile ?? '-'}, sms ${c.sms_status}`,
    `  created ${formatTime(c.created_at, tz)}, pay by ${formatTime(c.pay_deadline, tz)}`,
  ];
  if (c.paid_at !== null)
    lines.push(`  paid ${formatTime(c.paid_at, tz)}, valid until ${formatTime(c.valid_until, tz)}`);
  if (c.banned_at !== null) lines.push(`  banned ${formatTime(c.banned_at, tz)}: ${c.ban_reason ?? ''}`);
  if (c.expired_at !== null) lines.push(`  expired ${formatTime(c.expired_at, tz)}`);
  if (c.frozen_at !== null) lines.push(`  frozen ${formatTime(c.frozen_at, tz)}: ${c.frozen_reason ?? ''}`);
  return lines;
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
