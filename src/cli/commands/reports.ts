import fs from 'node:fs/promises';
import type { Command } from 'commander';
import type { DashboardFigures } from '../../domain/admin/report.service.js';
import { formatYuan } from '../../domain/money.js';
import { type CsvLang, settlementCsv, statementCsv } from '../../domain/admin/statement-csv.js';
import { badInput } from '../../errors.js';
import { printJson, printTable } from '../output.js';
import { withServices } from '../runner.js';

/** Partners' statements, cinemas' settlements and the dashboard figures. */
export function registerReportCommands(program: Command): void {
  program
    .command('statement')
    .description("a partner's (or every partner's) reconciliation statement for a day or a range, as CSV")
    .argument('<partner_id>', 'partner id, e.g. CS000001, or "all" for every partner')
    .argument('<from>', 'first day, YYYY-MM-DD in the platform time zone')
    .argument('[to]', 'last day, inclusive (default: the first day)')
    .option('--out <file>', 'write to this file instead of stdout')
    .option(
      '--lang <lang>',
      'zh: Chinese headers, card numbers kept exact in spreadsheets; en: for machines',
      'zh',
    )
    .action((partnerId: string, from: string, to: string | undefined, opts: { out?: string; lang: string }) =>
      withServices(async (ctx, services) => {
        const lang = langOf(opts.lang);
        const st = await services.reports.statement(
          partnerId === 'all' ? undefined : partnerId,
          from,
          to ?? from,
        );
        const csv = statementCsv(st, lang);
        if (!opts.out) {
          process.stdout.write(csv);
          return;
        }
        await fs.writeFile(opts.out, csv, 'utf8');
        ctx.out(
          `wrote ${opts.out}: activations ${st.activations} (${formatYuan(st.activation_fen)}), ` +
            `voids ${st.voids} (${formatYuan(st.void_fen)}), net ${formatYuan(st.net_fen)}`,
        );
      }),
    );

  program
    .command('settlement')
    .description("a cinema's settlement of its redemptions per day and kind, as CSV")
    .argument('<cinema_id>', 'cinema id, e.g. 1001')
    .argument('<from>', 'first day, YYYY-MM-DD in the platform time zone')
    .argument('[to]', 'last day, inclusive (default: the first day)')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--lang <lang>', 'zh: Chinese headers; en: English column names, for machines', 'zh')
    .option('--json', 'print JSON')
    .action(
      (
        cinemaId: string,
        from: string,
        to: string | undefined,
        opts: { out?: string; lang: string; json?: boolean },
      ) =>
        withServices(async (ctx, services) => {
          const lang = langOf(opts.lang);
          const s = await services.reports.settlement({ role: 'admin' }, cinemaId, from, to ?? from);
          if (opts.json) return printJson(ctx, s);
          const csv = settlementCsv(s, lang);
          if (!opts.out) {
            process.stdout.write(csv);
            return;
          }
          await fs.writeFile(opts.out, csv, 'utf8');
          ctx.out(
            `wrote ${opts.out}: ${s.tickets} tickets in ${s.redemptions} redemptions, ${formatYuan(s.amount_fen)}`,
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
      withServices(async (ctx, services) => {
        const d = await services.reports.dashboard(opts.since, opts.until, { partnerId: opts.partner });
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
        printTable(
          ctx,
          ['day', ...header, 'sms delivered'],
          d.days.map((day) => [day.day, ...figures(day), rate(day.sms.delivery_rate)]),
        );
        ctx.out('');
        printTable(
          ctx,
          ['partner', ...header],
          d.partners.map((p) => [p.partner_id, ...figures(p)]),
        );
        ctx.out('');
        printTable(ctx, ['total', ...header], [['', ...figures(d.totals)]]);
        ctx.out(
          `sms: ${d.sms.sent} sent, ${d.sms.failed} failed, ${d.sms.queued} queued; delivered ${rate(d.sms.delivery_rate)}`,
        );
      }),
    );
}

function langOf(lang: string): CsvLang {
  if (lang === 'zh' || lang === 'en') return lang;
  throw badInput(`--lang must be zh or en, not ${lang.slice(0, 20)}`, 'field.one_of', {
    field: 'lang',
    options: 'zh, en',
  });
}

function rate(r: number | null): string {
  return r === null ? '-' : `${(r * 100).toFixed(1)}%`;
}
