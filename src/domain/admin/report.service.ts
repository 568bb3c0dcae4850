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
  /** sent / (sent + failed + queued): taken by the gateway or provider; null when no message was queued. */
  delivery_rate: number | null;
  /** Sent messages whose handset received them, or did not, by the provider's report. */
  delivered: number;
  undelivered: number;
  /** delivered / (delivered + undelivered): received by the handset; null without reports. */
  received_rate: number | null;
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

/** One line of a statement: an activation, or a void (negative amount). Text as stored. */
export interface StatementLine {
  type: 'activation' | 'void';
  /** Epoch ms: paid (activation) or banned (void). */
  at: number;
  card_no: string;
  order_no: string | null;
  target_type: 'cinema' | 'kind';
  target_id: string;
  target_name: string;
  count: number;
  unit_price_fen: number;
  /** count × unit price; negative for a void. */
  amount_fen: number;
}

export interface Statement extends StatementTotals {
  partner_id: string;
  day: string;
  /** The platform time zone the day and the CSV's times are in. */
  time_zone: string;
  /** Oldest first. */
  lines: StatementLine[];
  filename: string;
  /** `statementCsv(this)`: UTF-8 text starting with a BOM, CRLF line ends. */
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

    const smsPerDay = days.map(() => ({ sent: 0, failed: 0, queued: 0, delivered: 0, undelivered: 0 }));
    for (const s of sms) {
      smsPerDay[s.day_idx]![s.status] += s.n;
      if (s.delivery) smsPerDay[s.day_idx]![s.delivery] += s.n;
    }
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
      (t, d) => ({
        sent: t.sent + d.sent,
        failed: t.failed + d.failed,
        queued: t.queued + d.queued,
        delivered: t.delivered + d.delivered,
        undelivered: t.undelivered + d.undelivered,
      }),
      { sent: 0, failed: 0, queued: 0, delivered: 0, undelivered: 0 },
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
    const lines: StatementLine[] = [
      ...activations.map((e) => lineOf('activation', e, e.total_fen)),
      ...voids.map((e) => lineOf('void', e, -e.total_fen)),
    ].sort((a, b) => a.at - b.at || a.type.localeCompare(b.type) || a.card_no.localeCompare(b.card_no));

    const totals: StatementTotals = {
      activations: activations.length,
      activation_fen: activations.reduce((s, e) => s + e.total_fen, 0),
      voids: voids.length,
      void_fen: voids.reduce((s, e) => s - e.total_fen, 0),
      net_fen: 0,
    };
    totals.net_fen = totals.activation_fen + totals.void_fen;

    const st = {
      partner_id: partnerId,
      day,
      time_zone: tz,
      lines,
      filename: `statement-${partnerId}-${day}.csv`,
      ...totals,
    };
    return { ...st, csv: statementCsv(st) };
  }
}

/**
 * The statement as the CSV download: the lines under STATEMENT_COLUMNS, an empty line, then the
 * totals under STATEMENT_TOTAL_COLUMNS; amounts in yuan, times in the statement's time zone.
 */
export function statementCsv(st: Omit<Statement, 'csv'>): string {
  const out: string[] = [csvRow([...STATEMENT_COLUMNS])];
  for (const l of st.lines) {
    out.push(
      csvRow([
        l.type,
        formatDateTime(l.at, st.time_zone),
        l.card_no,
        text(l.order_no ?? ''),
        l.target_type,
        l.target_id,
        text(l.target_name),
        String(l.count),
        formatYuan(l.unit_price_fen),
        formatYuan(l.amount_fen),
      ]),
    );
  }
  // The totals follow after an empty line, under their own header.
  out.push('');
  out.push(csvRow([...STATEMENT_TOTAL_COLUMNS]));
  out.push(
    csvRow([
      String(st.activations),
      formatYuan(st.activation_fen),
      String(st.voids),
      formatYuan(st.void_fen),
      formatYuan(st.net_fen),
    ]),
  );
  // The BOM makes Excel read the file as UTF-8 (Chinese names).
  return `\uFEFF${out.join('\r\n')}\r\n`;
}

function sumFigures(rows: readonly DashboardFigures[]): DashboardFigures {
  const t = zero();
  for (const r of rows) {
    for (const k of Object.keys(t) as (keyof DashboardFigures)[]) t[k] += r[k];
  }
  return t;
}

function withRate(s: Omit<SmsFigures, 'delivery_rate' | 'received_rate'>): SmsFigures {
  const all = s.sent + s.failed + s.queued;
  const reported = s.delivered + s.undelivered;
  return {
    sent: s.sent,
    failed: s.failed,
    queued: s.queued,
    delivery_rate: all === 0 ? null : s.sent / all,
    delivered: s.delivered,
    undelivered: s.undelivered,
    received_rate: reported === 0 ? null : s.delivered / reported,
  };
}

function lineOf(type: StatementLine['type'], e: StatementEntryRow, amountFen: number): StatementLine {
  const target =
    e.cinema_id !== null
      ? { target_type: 'cinema' as const, target_id: e.cinema_id, target_name: e.cinema_name ?? '' }
      : { target_type: 'kind' as const, target_id: e.kind_id ?? '', target_name: e.kind_name ?? '' };
  return {
    type,
    at: e.at,
    card_no: e.card_no,
    order_no: e.order_no,
    ...target,
    count: e.count,
    unit_price_fen: e.price_fen,
    amount_fen: amountFen,
  };
}

/** Free text that a spreadsheet would run as a formula gets a leading apostrophe. */
function text(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

function csvRow(cells: readonly string[]): string {
  return cells.map((c) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
}
