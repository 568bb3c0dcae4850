import type { Db } from '../../db/database.js';
import {
  cardFiguresByDay,
  findPartnerName,
  listStatementEntries,
  redeemedByDay,
  smsByDay,
  type DayPartnerFigure,
  type StatementEntryRow,
} from '../../db/report.repository.js';
import { formatYuan } from '../money.js';
import { dayRange, formatDateTime } from '../dates.js';
import { badInput, notFound } from '../../errors.js';

/** Counts and amounts (fen) of one day, one partner, or a total. */
export interface DashboardFigures {
  /** Cards created. */
  issued: number;
  issued_fen: number;
  /** Cards paid. */
  activated: number;
  activated_fen: number;
  /** Paid cards banned (the payment is void). */
  voided: number;
  voided_fen: number;
  /** Unpaid cards banned (no money moved). */
  banned_unpaid: number;
  /** Tickets redeemed (undone redemptions not counted) and their price. */
  redeemed_tickets: number;
  redeemed_fen: number;
}

export interface SmsFigures {
  sent: number;
  failed: number;
  queued: number;
  /** sent / (sent + failed + queued); null when no message was queued. */
  delivery_rate: number | null;
}

export interface Dashboard {
  from_day: string;
  to_day: string;
  time_zone: string;
  /** One row per day and partner with any figure, by day then partner. */
  rows: (DashboardFigures & { day: string; partner_id: string })[];
  /** Every day of the range, all partners together, with that day's SMS (by the day queued). */
  days: (DashboardFigures & { day: string; sms: SmsFigures })[];
  /** Per partner over the range. */
  partners: (DashboardFigures & { partner_id: string })[];
  totals: DashboardFigures;
  sms: SmsFigures;
}

export interface StatementTotals {
  activations: number;
  activation_fen: number;
  voids: number;
  /** Negative. */
  void_fen: number;
  net_fen: number;
}

export interface Statement extends StatementTotals {
  partner_id: string;
  day: string;
  filename: string;
  /** UTF-8 text starting with a BOM, CRLF line ends. */
  csv: string;
}

export interface ReportDeps {
  db: Db;
  timeZone: string;
}

export const STATEMENT_COLUMNS = [
  'type',
  'time',
  'card_no',
  'order_no',
  'target_type',
  'target_id',
  'target_name',
  'count',
  'unit_price',
  'amount',
] as const;

export const STATEMENT_TOTAL_COLUMNS = [
  'activations',
  'activation_amount',
  'voids',
  'void_amount',
  'net_amount',
] as const;

const zero = (): DashboardFigures => ({
  issued: 0,
  issued_fen: 0,
  activated: 0,
  activated_fen: 0,
  voided: 0,
  voided_fen: 0,
  banned_unpaid: 0,
  redeemed_tickets: 0,
  redeemed_fen: 0,
});

/** Management reports: the dashboard and the daily reconciliation statement per partner. */
export class ReportService {
  constructor(private readonly deps: ReportDeps) {}

  /** Figures per day (platform time zone) and partner over fromDay..toDay, inclusive. */
  async dashboard(fromDay: string, toDay: string, opts: { partnerId?: string } = {}): Promise<Dashboard> {
    const tz = this.deps.timeZone;
    const { days, bounds } = dayRange(fromDay, toDay, tz);
    const db = this.deps.db.kysely;
    const p = { partnerId: opts.partnerId };
    const [issued, activated, voided, bannedUnpaid, redeemed, sms] = await Promise.all([
      cardFiguresByDay(db, 'created_at', bounds, p),
      cardFiguresByDay(db, 'paid_at', bounds, p),
      cardFiguresByDay(db, 'banned_at', bounds, { ...p, paid: true }),
      cardFiguresByDay(db, 'banned_at', bounds, { ...p, paid: false }),
      redeemedByDay(db, bounds, p),
      smsByDay(db, bounds, p),
    ]);
    const cells = new Map<string, DashboardFigures & { day: string; partner_id: string }>();
    const add = (figures: DayPartnerFigure[], apply: (f: DashboardFigures, x: DayPartnerFigure) => void) => {
      for (const x of figures) {
        const day = days[x.day_idx]!;
        const key = `${day}|${x.partner_id}`;
        let cell = cells.get(key);
        if (!cell) cells.set(key, (cell = { day, partner_id: x.partner_id, ...zero() }));
        apply(cell, x);
      }
    };
    add(issued, (f, x) => ((f.issued += x.n), (f.issued_fen += x.fen)));
    add(activated, (f, x) => ((f.activated += x.n), (f.activated_fen += x.fen)));
    add(voided, (f, x) => ((f.voided += x.n), (f.voided_fen += x.fen)));
    add(bannedUnpaid, (f, x) => (f.banned_unpaid += x.n));
    add(redeemed, (f, x) => ((f.redeemed_tickets += x.n), (f.redeemed_fen += x.fen)));
    const rows = [...cells.values()].sort((a, b) =>
      a.day === b.day ? a.partner_id.localeCompare(b.partner_id) : a.day.localeCompare(b.day),
    );

    const smsPerDay = days.map(() => ({ sent: 0, failed: 0, queued: 0 }));
    for (const s of sms) smsPerDay[s.day_idx]![s.status] += s.n;
    const byDay = days.map((day, i) => ({
      day,
      ...sumFigures(rows.filter((r) => r.day === day)),
      sms: withRate(smsPerDay[i]!),
    }));
    const partnerIds = [...new Set(rows.map((r) => r.partner_id))].sort();
    const partners = partnerIds.map((partner_id) => ({
      partner_id,
      ...sumFigures(rows.filter((r) => r.partner_id === partner_id)),
    }));
    const smsTotal = smsPerDay.reduce(
      (t, d) => ({ sent: t.sent + d.sent, failed: t.failed + d.failed, queued: t.queued + d.queued }),
      { sent: 0, failed: 0, queued: 0 },
    );
    return {
      from_day: fromDay,
      to_day: toDay,
      time_zone: tz,
      rows,
      days: byDay,
      partners,
      totals: sumFigures(rows),
      sms: withRate(smsTotal),
    };
  }

  /**
   * The partner's reconciliation statement for one day (platform time zone): every activation
   * (paid that day) and every void (a paid card banned that day, negative), then the totals —
   * summed in integer fen, so they agree with the lines to the fen.
   */
  async statement(partnerId: string, day: string): Promise<Statement> {
    if (typeof partnerId !== 'string' || !/^[A-Z]{2}[0-9]{6}$/.test(partnerId)) {
      throw badInput('partner_id must look like CS000001', 'field.partner_id', { field: 'partner_id' });
    }
    const tz = this.deps.timeZone;
    const { bounds } = dayRange(day, day, tz);
    const db = this.deps.db.kysely;
    if ((await findPartnerName(db, partnerId)) === undefined) {
      throw notFound('partner', partnerId);
    }
    const [from, to] = [bounds[0]!, bounds[1]!];
    const [activations, voids] = await Promise.all([
      listStatementEntries(db, 'activation', partnerId, from, to),
      listStatementEntries(db, 'void', partnerId, from, to),
    ]);
    const lines = [
      ...activations.map((e) => ({ type: 'activation' as const, e, fen: e.total_fen })),
      ...voids.map((e) => ({ type: 'void' as const, e, fen: -e.total_fen })),
    ].sort(
      (a, b) => a.e.at - b.e.at || a.type.localeCompare(b.type) || a.e.card_no.localeCompare(b.e.card_no),
    );

    const totals: StatementTotals = {
      activations: activations.length,
      activation_fen: activations.reduce((s, e) => s + e.total_fen, 0),
      voids: voids.length,
      void_fen: voids.reduce((s, e) => s - e.total_fen, 0),
      net_fen: 0,
    };
    totals.net_fen = totals.activation_fen + totals.void_fen;

    const out: string[] = [csvRow([...STATEMENT_COLUMNS])];
    for (const { type, e, fen } of lines) {
      const target = targetOf(e);
      out.push(
        csvRow([
          type,
          formatDateTime(e.at, tz),
          e.card_no,
          text(e.order_no ?? ''),
          target.type,
          target.id,
          text(target.name),
          String(e.count),
          formatYuan(e.price_fen),
          formatYuan(fen),
        ]),
      );
    }
    // The totals follow after an empty line, under their own header.
    out.push('');
    out.push(csvRow([...STATEMENT_TOTAL_COLUMNS]));
    out.push(
      csvRow([
        String(totals.activations),
        formatYuan(totals.activation_fen),
        String(totals.voids),
        formatYuan(totals.void_fen),
        formatYuan(totals.net_fen),
      ]),
    );
    return {
      partner_id: partnerId,
      day,
      filename: `statement-${partnerId}-${day}.csv`,
      // The BOM makes Excel read the file as UTF-8 (Chinese names).
      csv: `\uFEFF${out.join('\r\n')}\r\n`,
      ...totals,
    };
  }
}

function sumFigures(rows: readonly DashboardFigures[]): DashboardFigures {
  const t = zero();
  for (const r of rows) {
    for (const k of Object.keys(t) as (keyof DashboardFigures)[]) t[k] += r[k];
  }
  return t;
}

function withRate(s: { sent: number; failed: number; queued: number }): SmsFigures {
  const all = s.sent + s.failed + s.queued;
  return { ...s, delivery_rate: all === 0 ? null : s.sent / all };
}

function targetOf(e: StatementEntryRow): { type: string; id: string; name: string } {
  if (e.cinema_id !== null) return { type: 'cinema', id: e.cinema_id, name: e.cinema_name ?? '' };
  return { type: 'kind', id: e.kind_id ?? '', name: e.kind_name ?? '' };
}

/** Free text that a spreadsheet would run as a formula gets a leading apostrophe. */
function text(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

function csvRow(cells: readonly string[]): string {
  return cells.map((c) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
}
