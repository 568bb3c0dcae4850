import type { Db } from '../../db/database.js';
import { findCinemaName } from '../../db/redemption.repository.js';
import type { Role } from '../../db/schema.js';
import {
  cardFiguresByDay,
  listPartnerNames,
  listStatementEntries,
  settlementByDay,
  redeemedByDay,
  smsByDay,
  type DayPartnerFigure,
  type StatementEntryRow,
} from '../../db/report.repository.js';
import { dayRange } from '../dates.js';
import { badInput, forbidden, notFound } from '../../errors.js';

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
  partner_id: string;
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
  /** The partner, or null for a statement of every partner. */
  partner_id: string | null;
  partner_name: string | null;
  from_day: string;
  to_day: string;
  /** The platform time zone the days and the CSV's times are in. */
  time_zone: string;
  /** Oldest first. */
  lines: StatementLine[];
  /** Every day of the range, in order, with its totals (zero when quiet). */
  days: (StatementTotals & { day: string })[];
  /** Each partner with a line, by id. */
  partners: (StatementTotals & { partner_id: string; partner_name: string })[];
  filename: string;
}

/** A cinema's redemptions of one day and one kind (kind null: cards sold for the cinema itself). */
export interface SettlementFigures {
  tickets: number;
  redemptions: number;
  /** Tickets × each card's unit price, fen. */
  amount_fen: number;
}

export interface Settlement extends SettlementFigures {
  cinema_id: string;
  cinema_name: string;
  from_day: string;
  to_day: string;
  time_zone: string;
  /** By day, then kind (cinema cards first). */
  rows: (SettlementFigures & { day: string; kind_id: string | null; kind_name: string | null })[];
  /** Every day of the range. */
  days: (SettlementFigures & { day: string })[];
  kinds: (SettlementFigures & { kind_id: string | null; kind_name: string | null })[];
  filename: string;
}

/** Who asks for a settlement: cinema staff see their own cinema only. */
export interface SettlementViewer {
  role: Role;
  cinemaId?: string | null;
}

export interface ReportDeps {
  db: Db;
  timeZone: string;
}

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

/** Management reports: the dashboard, partners' reconciliation statements, cinemas' settlements. */
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
   * The reconciliation statement of a partner (or of every partner, `partnerId` empty) over
   * fromDay..toDay in the platform time zone: every activation (paid in the range) and every void
   * (a paid card banned in the range, negative), with totals per day, per partner and overall —
   * summed in integer fen, so they agree with the lines to the fen.
   */
  async statement(
    partnerId: string | undefined,
    fromDay: string,
    toDay: string = fromDay,
  ): Promise<Statement> {
    const all = partnerId === undefined || partnerId === '';
    if (!all && (typeof partnerId !== 'string' || !/^[A-Z]{2}[0-9]{6}$/.test(partnerId))) {
      throw badInput('partner_id must look like CS000001', 'field.partner_id', { field: 'partner_id' });
    }
    const tz = this.deps.timeZone;
    const { days, bounds } = dayRange(fromDay, toDay, tz);
    const db = this.deps.db.kysely;
    const names = await listPartnerNames(db);
    if (!all && !names.has(partnerId)) throw notFound('partner', partnerId);
    const only = all ? undefined : partnerId;
    const [from, to] = [bounds[0]!, bounds.at(-1)!];
    const [activations, voids] = await Promise.all([
      listStatementEntries(db, 'activation', only, from, to),
      listStatementEntries(db, 'void', only, from, to),
    ]);
    const lines: StatementLine[] = [
      ...activations.map((e) => lineOf('activation', e, e.total_fen)),
      ...voids.map((e) => lineOf('void', e, -e.total_fen)),
    ].sort((a, b) => a.at - b.at || a.type.localeCompare(b.type) || a.card_no.localeCompare(b.card_no));

    const dayIdx = (at: number) => bounds.findIndex((b, i) => at >= b && at < bounds[i + 1]!);
    const perDay = days.map((day) => ({ day, ...totalsOf([]) }));
    const byDay = new Map<number, StatementLine[]>();
    for (const l of lines) {
      const i = dayIdx(l.at);
      byDay.set(i, [...(byDay.get(i) ?? []), l]);
    }
    for (const [i, ls] of byDay) perDay[i] = { day: days[i]!, ...totalsOf(ls) };
    const partnerIds = [...new Set(lines.map((l) => l.partner_id))].sort();
    const range = fromDay === toDay ? fromDay : `${fromDay}_${toDay}`;
    return {
      partner_id: all ? null : partnerId,
      partner_name: all ? null : (names.get(partnerId) ?? ''),
      from_day: fromDay,
      to_day: toDay,
      time_zone: tz,
      lines,
      days: perDay,
      partners: partnerIds.map((id) => ({
        partner_id: id,
        partner_name: names.get(id) ?? '',
        ...totalsOf(lines.filter((l) => l.partner_id === id)),
      })),
      filename: `statement-${all ? 'all' : partnerId}-${range}.csv`,
      ...totalsOf(lines),
    };
  }

  /**
   * A cinema's settlement of its redemptions over fromDay..toDay: tickets redeemed there and not
   * undone, by day and by the card's kind, valued at each card's unit price. Cinema staff may
   * ask for their own cinema only.
   */
  async settlement(
    viewer: SettlementViewer,
    cinemaId: string,
    fromDay: string,
    toDay: string = fromDay,
  ): Promise<Settlement> {
    if (viewer.role === 'cinema' && viewer.cinemaId !== cinemaId) {
      throw forbidden('cinema staff see their own cinema only', 'settlement.other_cinema');
    }
    if (typeof cinemaId !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(cinemaId)) {
      throw badInput('cinema_id must be 1-32 letters, digits, _ or -', 'field.id', { field: 'cinema_id' });
    }
    const tz = this.deps.timeZone;
    const { days, bounds } = dayRange(fromDay, toDay, tz);
    const db = this.deps.db.kysely;
    const cinemaName = await findCinemaName(db, cinemaId);
    if (cinemaName === undefined) throw notFound('cinema', cinemaId);
    const figures = await settlementByDay(db, cinemaId, bounds);
    const rows = figures
      .map((f) => ({
        day: days[f.day_idx]!,
        kind_id: f.kind_id,
        kind_name: f.kind_name,
        tickets: f.tickets,
        redemptions: f.redemptions,
        amount_fen: f.fen,
      }))
      .sort((a, b) => a.day.localeCompare(b.day) || (a.kind_id ?? '').localeCompare(b.kind_id ?? ''));
    const kindIds = [...new Set(rows.map((r) => r.kind_id))].sort((a, b) => (a ?? '').localeCompare(b ?? ''));
    const range = fromDay === toDay ? fromDay : `${fromDay}_${toDay}`;
    return {
      cinema_id: cinemaId,
      cinema_name: cinemaName,
      from_day: fromDay,
      to_day: toDay,
      time_zone: tz,
      rows,
      days: days.map((day) => ({ day, ...sumSettlement(rows.filter((r) => r.day === day)) })),
      kinds: kindIds.map((kind_id) => {
        const of = rows.filter((r) => r.kind_id === kind_id);
        return { kind_id, kind_name: of[0]!.kind_name, ...sumSettlement(of) };
      }),
      filename: `settlement-${cinemaId}-${range}.csv`,
      ...sumSettlement(rows),
    };
  }
}

function totalsOf(lines: readonly StatementLine[]): StatementTotals {
  const acts = lines.filter((l) => l.type === 'activation');
  const voids = lines.filter((l) => l.type === 'void');
  const activation_fen = acts.reduce((s, l) => s + l.amount_fen, 0);
  const void_fen = voids.reduce((s, l) => s + l.amount_fen, 0);
  return {
    activations: acts.length,
    activation_fen,
    voids: voids.length,
    void_fen,
    net_fen: activation_fen + void_fen,
  };
}

function sumSettlement(rows: readonly SettlementFigures[]): SettlementFigures {
  return {
    tickets: rows.reduce((s, r) => s + r.tickets, 0),
    redemptions: rows.reduce((s, r) => s + r.redemptions, 0),
    amount_fen: rows.reduce((s, r) => s + r.amount_fen, 0),
  };
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
    partner_id: e.partner_id,
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
