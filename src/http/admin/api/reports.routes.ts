import { Type } from '@sinclair/typebox';
import { dayOf } from '../../../domain/dates.js';
import type { AdminDeps } from '../deps.js';
import { Day, Id, STAFF, Strict } from './common.js';
import { apiRoute } from './route.js';
import { AuditPageSchema, DashboardSchema, ErrorSchema } from './schemas.js';

/** The dashboard, reconciliation statements and the audit log (staff). */
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
      summary: "A partner's reconciliation statement for a day, as a CSV download (default: today)",
      description:
        'UTF-8 with a BOM, CRLF line ends; amounts in yuan with two decimals, summed in fen. ' +
        'The totals are also sent in the X-Statement-* headers (fen).',
      roles: STAFF,
      querystring: Strict({ partnerId: Id(), day: Type.Optional(Day()) }),
      produces: 'text/csv',
      response: { 200: Type.String(), 404: ErrorSchema },
      handler: async ({ query, reply }) => {
        const st = await reports.statement(query.partnerId, query.day ?? today());
        return reply
          .type('text/csv; charset=utf-8')
          .headers({
            'content-disposition': `attachment; filename="${st.filename}"`,
            'x-statement-activations': String(st.activations),
            'x-statement-net-fen': String(st.net_fen),
          })
          .send(st.csv);
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
