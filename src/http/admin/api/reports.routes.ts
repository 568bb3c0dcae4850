import { Type } from '@sinclair/typebox';
import { dayOf } from '../../../domain/dates.js';
import { settlementCsv, statementCsv } from '../../../domain/admin/statement-csv.js';
import { badInput } from '../../../errors.js';
import type { SessionUser } from '../auth/guards.js';
import type { AdminDeps } from '../deps.js';
import { ANYONE, Day, Id, STAFF, Strict } from './common.js';
import { apiRoute } from './route.js';
import { AuditPageSchema, DashboardSchema, ErrorSchema } from './schemas.js';

const Lang = Type.Union([Type.Literal('zh'), Type.Literal('en')], {
  description: 'zh: Chinese headers for people (default); en: English column names for machines',
});

const SettlementQuery = Strict({
  cinemaId: Type.Optional(Id()),
  day: Type.Optional(Day()),
  from: Type.Optional(Day()),
  to: Type.Optional(Day()),
  lang: Type.Optional(Lang),
});

const Figures = {
  tickets: Type.Integer(),
  redemptions: Type.Integer(),
  amount_fen: Type.Integer({ description: 'fen (1/100 yuan)' }),
};
const KindRef = {
  kind_id: Type.Union([Type.String(), Type.Null()], {
    description: 'null: cards sold for the cinema itself',
  }),
  kind_name: Type.Union([Type.String(), Type.Null()]),
};
const SettlementSchema = Type.Object({
  cinema_id: Type.String(),
  cinema_name: Type.String(),
  from_day: Type.String(),
  to_day: Type.String(),
  time_zone: Type.String(),
  rows: Type.Array(Type.Object({ day: Type.String(), ...KindRef, ...Figures })),
  days: Type.Array(Type.Object({ day: Type.String(), ...Figures })),
  kinds: Type.Array(Type.Object({ ...KindRef, ...Figures })),
  filename: Type.String(),
  ...Figures,
});

/** `day`, or `from`..`to`, or just one of them; today when none is given. */
function rangeOf(q: { day?: string; from?: string; to?: string }, today: string): [string, string] {
  if (q.day) return [q.day, q.day];
  const from = q.from || q.to || today;
  return [from, q.to || (q.from ? from : today)];
}

/** Cinema staff see their own cinema; admins and operators name one. */
function cinemaOf(user: SessionUser, asked: string | undefined): string {
  if (user.role === 'cinema') return asked || user.cinemaId || '';
  if (!asked) throw badInput('cinemaId is required', 'field.required', { field: 'cinemaId' });
  return asked;
}

/** The dashboard, reconciliation statements, cinema settlements and the audit log. */
export function reportRoutes(deps: AdminDeps) {
  const { reports, audit } = deps;
  const today = () => dayOf(deps.clock.now(), deps.config.timeZone);
  return [
    apiRoute({
      method: 'GET',
      url: '/admin/api/reports/dashboard',
      tag: 'reports',
      summary: 'Figures per day and partner (default: today)',
      roles: STAFF,
      querystring: Strict({
        from: Type.Optional(Day()),
        to: Type.Optional(Day()),
        partnerId: Type.Optional(Id()),
      }),
      response: { 200: DashboardSchema },
      handler: async ({ query }) => {
        const from = query.from ?? query.to ?? today();
        return reports.dashboard(from, query.to ?? (query.from ? from : today()), {
          partnerId: query.partnerId || undefined,
        });
      },
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/reports/statement',
      tag: 'reports',
      summary: "A partner's (or every partner's) reconciliation statement over a range, as a CSV download",
      description:
        'The range is `day`, or `from`..`to` (inclusive, at most 366 days; default: today). Without ' +
        'partnerId the statement covers every partner. UTF-8 with a BOM, CRLF line ends; amounts in ' +
        'yuan with two decimals, summed in fen; the lines, then the totals per day, per partner and ' +
        'overall. `lang=zh` (default): Chinese headers and type names, card numbers as ="…" text ' +
        'so that spreadsheets keep all 16 digits; `lang=en`: English column names and plain values, ' +
        'for machines. The totals are also sent in the X-Statement-* headers (fen).',
      roles: STAFF,
      querystring: Strict({
        partnerId: Type.Optional(Id()),
        day: Type.Optional(Day()),
        from: Type.Optional(Day()),
        to: Type.Optional(Day()),
        lang: Type.Optional(Lang),
      }),
      produces: 'text/csv',
      response: { 200: Type.String(), 404: ErrorSchema },
      handler: async ({ query, reply }) => {
        const [from, to] = rangeOf(query, today());
        const st = await reports.statement(query.partnerId || undefined, from, to);
        return reply
          .type('text/csv; charset=utf-8')
          .headers({
            'content-disposition': `attachment; filename="${st.filename}"`,
            'x-statement-activations': String(st.activations),
            'x-statement-net-fen': String(st.net_fen),
          })
          .send(statementCsv(st, query.lang ?? 'zh'));
      },
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/reports/settlement',
      tag: 'reports',
      summary: "A cinema's settlement of its redemptions per day and kind over a range",
      description:
        'Tickets redeemed at the cinema and not undone, valued at each card’s unit price (fen). ' +
        'The range is `day` or `from`..`to` (default: today). Cinema staff get their own cinema ' +
        '(another is refused); admins and operators must give cinemaId.',
      roles: ANYONE,
      querystring: SettlementQuery,
      response: { 200: SettlementSchema, 404: ErrorSchema },
      handler: async ({ user, query }) => {
        const [from, to] = rangeOf(query, today());
        return reports.settlement(user, cinemaOf(user, query.cinemaId), from, to);
      },
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/reports/settlement/csv',
      tag: 'reports',
      summary: "A cinema's settlement as a CSV download",
      description: 'As /admin/api/reports/settlement, as CSV (see the statement for `lang`).',
      roles: ANYONE,
      querystring: SettlementQuery,
      produces: 'text/csv',
      response: { 200: Type.String(), 404: ErrorSchema },
      handler: async ({ user, query, reply }) => {
        const [from, to] = rangeOf(query, today());
        const s = await reports.settlement(user, cinemaOf(user, query.cinemaId), from, to);
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${s.filename}"`)
          .send(settlementCsv(s, query.lang ?? 'zh'));
      },
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/audit',
      tag: 'audit',
      summary: 'Search the audit log, newest first',
      roles: STAFF,
      querystring: Strict({
        entityType: Type.Optional(Type.String({ maxLength: 32 })),
        entityId: Type.Optional(Type.String({ maxLength: 200 })),
        actor: Type.Optional(Type.String({ maxLength: 100 })),
        action: Type.Optional(Type.String({ maxLength: 64 })),
        since: Type.Optional(Type.Integer({ description: 'epoch ms, inclusive' })),
        until: Type.Optional(Type.Integer({ description: 'epoch ms, exclusive' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
        offset: Type.Optional(Type.Integer({ minimum: 0 })),
      }),
      response: { 200: AuditPageSchema },
      handler: async ({ actor, query }) => audit.search(actor, query),
    }),
  ];
}
