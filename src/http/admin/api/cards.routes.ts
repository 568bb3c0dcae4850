import { Type } from '@sinclair/typebox';
import type { AdminDeps } from '../deps.js';
import { Day, Id, OptionalBody, STAFF, Strict } from './common.js';
import { apiRoute } from './route.js';
import { CardDetailSchema, CardSchema, ErrorSchema, LockSchema, pageOf, SmsSchema } from './schemas.js';

const CardParams = Strict({ cardNo: Type.String({ maxLength: 16, description: '16 digits' }) });
const Limit = Type.Integer({ minimum: 1, maximum: 500, description: 'default 50' });
const Offset = Type.Integer({ minimum: 0 });
const CardStatusQuery = Type.Union(
  ['inactive', 'active', 'used', 'expired', 'banned'].map((s) => Type.Literal(s as 'active')),
);

/** Card search, the card page, ban, the support desk's freeze and unlock, resend SMS, the SMS log (staff). */
export function cardRoutes(deps: AdminDeps) {
  const { cardAdmin } = deps;
  return [
    apiRoute({
      method: 'GET',
      url: '/admin/api/cards',
      tag: 'cards',
      summary: 'Search cards, newest first',
      roles: STAFF,
      querystring: Strict({
        cardNo: Type.Optional(
          Type.String({
            maxLength: 40,
            description: '16 digits, or a prefix; spaces and dashes are ignored',
          }),
        ),
        partnerId: Type.Optional(Id()),
        orderNo: Type.Optional(Id()),
        mobile: Type.Optional(
          Type.String({ maxLength: 11, description: 'the whole mobile, or its last 4 digits' }),
        ),
        cinemaId: Type.Optional(Type.String({ maxLength: 32, description: 'cards valid at this cinema' })),
        status: Type.Optional(CardStatusQuery),
        since: Type.Optional(Day('created on or after, YYYY-MM-DD')),
        until: Type.Optional(Day('created on or before, YYYY-MM-DD')),
        limit: Type.Optional(Limit),
        offset: Type.Optional(Offset),
      }),
      response: { 200: pageOf(CardSchema) },
      handler: async ({ query }) => cardAdmin.search(query),
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/cards/:cardNo',
      tag: 'cards',
      summary: 'A card with its ledger, SMS, redemptions and audit entries (never its password)',
      roles: STAFF,
      params: CardParams,
      response: { 200: CardDetailSchema, 404: ErrorSchema },
      handler: async ({ params }) => cardAdmin.show(params.cardNo),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/cards/:cardNo/ban',
      tag: 'cards',
      summary: 'Ban a card (inactive, or active with nothing redeemed)',
      roles: STAFF,
      params: CardParams,
      body: Strict({ reason: Type.String({ maxLength: 100 }) }),
      response: {
        200: Type.Object({ card: CardSchema, changed: Type.Boolean() }),
        404: ErrorSchema,
        409: ErrorSchema,
      },
      handler: async ({ actor, params, body }) => cardAdmin.ban(actor.actor, params.cardNo, body.reason),
    }),
    ...(
      [
        ['freeze', "Freeze an active card's remaining tickets: no cinema redeems it until unfrozen"],
        ['unfreeze', 'Let cinemas redeem a frozen card again'],
        ['unlock', "Clear the card's wrong-password count, lifting a lock"],
      ] as const
    ).map(([verb, summary]) =>
      apiRoute({
        method: 'POST',
        url: `/admin/api/cards/:cardNo/${verb}`,
        tag: 'cards',
        summary,
        description:
          'Audited with the reason (1-100 characters). Doing it to a card that already is so ' +
          'changes nothing and answers `changed: false`. The card stays `active` for its partner.',
        roles: STAFF,
        params: CardParams,
        body: Strict({ reason: Type.String({ maxLength: 1000 }) }),
        response: {
          200: Type.Object({ card: CardSchema, lock: LockSchema, changed: Type.Boolean() }),
          400: ErrorSchema,
          404: ErrorSchema,
          409: ErrorSchema,
        },
        handler: async ({ actor, params, body }) => cardAdmin[verb](actor.actor, params.cardNo, body.reason),
      }),
    ),
    apiRoute({
      method: 'POST',
      url: '/admin/api/cards/:cardNo/resend',
      tag: 'cards',
      summary: "Queue the card's SMS again (optionally to another mobile)",
      description:
        "The SMS holds the card password. To a mobile other than the card's it needs `reason` " +
        '(1-200 characters) and `confirm: true`, else 400 `confirmation_required` / ' +
        '`reason_required`; when an admin has kept that to admins, others get 403 `admins_only`.',
      roles: STAFF,
      params: CardParams,
      body: OptionalBody(
        Strict({
          mobile: Type.Optional(Type.String({ maxLength: 11 })),
          reason: Type.Optional(Type.String({ maxLength: 1000, description: 'required for a new mobile' })),
          confirm: Type.Optional(Type.Boolean({ description: 'must be true for a new mobile' })),
        }),
      ),
      response: {
        200: Type.Object({ card: CardSchema, message_id: Type.String() }),
        400: ErrorSchema,
        403: ErrorSchema,
        404: ErrorSchema,
        409: ErrorSchema,
        429: ErrorSchema,
      },
      handler: async ({ actor, params, body }) => {
        const result = await cardAdmin.resendSms(actor, params.cardNo, {
          mobile: body?.mobile,
          reason: body?.reason,
          confirmed: body?.confirm === true,
        });
        setImmediate(() => deps.outbox.nudge());
        return result;
      },
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/sms',
      tag: 'cards',
      summary: 'SMS messages, newest first (without their text)',
      roles: STAFF,
      querystring: Strict({
        status: Type.Optional(
          Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('failed')]),
        ),
        cardNo: Type.Optional(Type.String({ maxLength: 16 })),
        limit: Type.Optional(Limit),
        offset: Type.Optional(Offset),
      }),
      response: { 200: pageOf(SmsSchema) },
      handler: async ({ query }) => cardAdmin.smsLog(query),
    }),
  ];
}
