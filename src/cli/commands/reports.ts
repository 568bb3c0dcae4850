import fs from 'node:fs/promises';
import type { Command } from 'commander';
import type { DashboardFigures } from '../../domain/admin/report.service.js';
import { formatYuan } from '../../domain/money.js';
import { printJson, printTable } from '../output.js';
import { withServices } from '../runner.js';

/** A partner's daily statement and the dashboard figures. */
export function registerReportCommands(program: Command): void {
  program
    .command('statement')
    .description("a partner's reconciliation statement for one day, as CSV")
    .argument('<partner_id>', 'partner id, e.g. CS000001')
    .argument('<date>', 'YYYY-MM-DD in the platform time zone')
    .option('--out <file>', 'write to this file instead of stdout')
    .action((partnerId: string, date: string, opts: { out?: string }) =>
      withServices(async (ctx, services) => {
        const st = await services.reports.statement(partnerId, date);
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

function rate(r: number | null): string {
  return r === null ? '-' : `${(r * 100).toFixed(1)}%`;
}
