import { Type } from '@sinclair/typebox';
import { type StaffUser } from '../../../domain/admin/redemption.service.js';
import { dayOf } from '../../../domain/dates.js';
import { badInput } from '../../../errors.js';
import type { AdminDeps } from '../deps.js';
import type { SessionUser } from '../auth/guards.js';
import { forbidden } from '../../../errors.js';
import { ANYONE, Day, Id, Strict } from './common.js';
import { apiRoute } from './route.js';
import {
  CardCheckSchema,
  DailyTotalsSchema,
  ErrorSchema,
  HistorySchema,
  RedeemResultSchema,
  UndoResultSchema,
} from './schemas.js';

const CINEMA = ['cinema'] as const;

const staffOf = (u: SessionUser): StaffUser => ({
  userId: u.userId,
  role: u.role,
  cinemaId: u.cinemaId,
  username: u.username,
});

/** Cinema staff see their own cinema only; admins and operators name the cinema. */
function cinemaFor(user: SessionUser, asked: string | undefined): string {
  if (user.role === 'cinema') {
    if (!user.cinemaId) throw forbidden('this account is bound to no cinema');
    if (asked !== undefined && asked !== user.cinemaId) throw forbidden('you may only see your own cinema');
    return user.cinemaId;
  }
  if (!asked) throw badInput('cinemaId is required', 'field.required', { field: 'cinemaId' });
  return asked;
}

/** Redemption at the cinema. */
export function redemptionRoutes(deps: AdminDeps) {
  const { redemption } = deps;
  const today = () => dayOf(deps.clock.now(), deps.config.timeZone);
  return [
    apiRoute({
      method: 'GET',
      url: '/admin/api/redemption/cards/:cardNo',
      tag: 'redemption',
      summary: 'What a card allows at your cinema (before asking for its password)',
      description: 'A card that is not valid at your cinema is refused with 403.',
      roles: CINEMA,
      params: Strict({ cardNo: Type.String({ maxLength: 16 }) }),
      response: { 200: CardCheckSchema, 403: ErrorSchema, 404: ErrorSchema },
      handler: async ({ user, params }) => redemption.checkCard(staffOf(user), params.cardNo),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/redemption/redemptions',
      tag: 'redemption',
      summary: 'Redeem tickets of a card with its password',
      description:
        'A wrong password answers 422 with details.triesLeft; the fifth within an hour locks the card (423).',
      roles: CINEMA,
      body: Strict({
        cardNo: Type.String({ maxLength: 16 }),
        password: Type.String({ maxLength: 64 }),
        count: Type.Integer({ minimum: 1, maximum: 50 }),
      }),
      response: {
        201: RedeemResultSchema,
        403: ErrorSchema,
        404: ErrorSchema,
        409: ErrorSchema,
        422: ErrorSchema,
        423: ErrorSchema,
      },
      handler: async ({ user, body }) =>
        redemption.redeem(staffOf(user), body.cardNo, body.password, body.count),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/redemption/redemptions/:redemptionId/undo',
      tag: 'redemption',
      summary: 'Undo a redemption made at your cinema within the last 10 minutes',
      roles: CINEMA,
      params: Strict({ redemptionId: Id() }),
      response: { 200: UndoResultSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ user, params }) => redemption.undo(staffOf(user), params.redemptionId),
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/redemption/history',
      tag: 'redemption',
      summary: "A cinema's redemptions on a day with the day's totals (default: today)",
      description: 'Cinema staff get their own cinema; admins and operators must give cinemaId.',
      roles: ANYONE,
      querystring: Strict({ day: Type.Optional(Day()), cinemaId: Type.Optional(Id()) }),
      response: { 200: HistorySchema },
      handler: async ({ user, query }) =>
        redemption.history(cinemaFor(user, query.cinemaId), query.day ?? today()),
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/redemption/totals',
      tag: 'redemption',
      summary: "A cinema's redemption totals per day over a range (default: today)",
      description: 'Cinema staff get their own cinema; admins and operators must give cinemaId.',
      roles: ANYONE,
      querystring: Strict({
        from: Type.Optional(Day()),
        to: Type.Optional(Day()),
        cinemaId: Type.Optional(Id()),
      }),
      response: { 200: DailyTotalsSchema },
      handler: async ({ user, query }) => {
        const cinemaId = cinemaFor(user, query.cinemaId);
        const from = query.from ?? query.to ?? today();
        const to = query.to ?? (query.from ? from : today());
        return { cinemaId, days: await redemption.dailyTotals(cinemaId, from, to) };
      },
    }),
  ];
}
