import { type TSchema, Type } from '@sinclair/typebox';
import type { AdminDeps } from '../deps.js';
import { ADMIN, Id, OptionalBody, ShortText, STAFF, Strict, Yuan } from './common.js';
import { apiRoute } from './route.js';
import {
  CreatedKeySchema,
  ErrorSchema,
  KeySchema,
  PartnerDetailSchema,
  PartnerPriceSchema,
  PartnerSchema,
  PartnerSummarySchema,
} from './schemas.js';

const PartnerParams = Strict({ partnerId: Id('e.g. CS000001') });
const KeyParams = Strict({ partnerId: Id(), secId: Id() });
const PriceParams = Strict({
  partnerId: Id(),
  targetType: Type.Union([Type.Literal('cinema'), Type.Literal('kind')]),
  targetId: Id(),
});
const Names = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 });
const Ips = Type.Array(Type.String({ maxLength: 64 }), {
  maxItems: 100,
  description: 'IPv4/IPv6; empty: any',
});
const RateLimit = Type.Integer({ minimum: 0, description: 'requests per second; 0: no limit' });
const Interfaces = Strict({ interfaces: Names });

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Ms = Type.Integer({ description: 'epoch milliseconds' });
const CallbackSchema = Type.Object({
  partnerId: Type.String(),
  callbackUrl: Nullable(Type.String({ description: 'null: no callback, no events recorded' })),
});
const NotifyEventSchema = Type.Object({
  eventId: Type.String({ description: 'stable across retries; the partner drops duplicates by it' }),
  partnerId: Type.String(),
  cardNo: Type.String(),
  type: Type.Union(
    ['redeemed', 'redemption_undone', 'expired', 'banned'].map((s) => Type.Literal(s as 'banned')),
  ),
  seq: Type.Integer({ description: "the card ledger's sequence number of the change" }),
  cardStatus: Type.String({ description: 'the card status the event reports' }),
  usedCount: Type.Integer(),
  remaining: Type.Integer(),
  occurredAt: Ms,
  status: Type.Union(['queued', 'delivered', 'failed'].map((s) => Type.Literal(s as 'queued'))),
  attempts: Type.Integer(),
  nextAttemptAt: Ms,
  lastError: Nullable(Type.String()),
  lastStatus: Nullable(Type.Integer({ description: 'HTTP status of the last answer' })),
  createdAt: Ms,
  deliveredAt: Nullable(Ms),
});

/** Partners, their interfaces and prices (staff); keys (admins). */
export function partnerRoutes(deps: AdminDeps) {
  const { partners } = deps;
  /** Runs a change, then makes this process serve it at once. */
  const changed = async <T>(result: Promise<T>): Promise<T> => {
    const value = await result;
    await deps.afterRegistryChange();
    return value;
  };
  return [
    apiRoute({
      method: 'GET',
      url: '/admin/api/partners',
      tag: 'partners',
      summary: 'List partners',
      roles: STAFF,
      response: { 200: Type.Object({ partners: Type.Array(PartnerSummarySchema) }) },
      handler: async ({ actor }) => ({ partners: await partners.list(actor) }),
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/partners/:partnerId',
      tag: 'partners',
      summary: 'A partner with its keys (admins only; null for operators) and own prices',
      roles: STAFF,
      params: PartnerParams,
      response: { 200: PartnerDetailSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => partners.show(actor, params.partnerId),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/partners',
      tag: 'partners',
      summary: 'Create a partner (no key yet)',
      roles: STAFF,
      body: Strict({
        name: ShortText(100),
        prefix: Type.Optional(
          Type.String({ maxLength: 2, description: 'two upper-case letters; default MT' }),
        ),
        permissions: Type.Optional(Names),
        ipAllow: Type.Optional(Ips),
        rateLimit: Type.Optional(RateLimit),
      }),
      response: { 201: PartnerSchema, 409: ErrorSchema },
      handler: async ({ actor, body }) => changed(partners.create(actor, body)),
    }),
    apiRoute({
      method: 'PATCH',
      url: '/admin/api/partners/:partnerId',
      tag: 'partners',
      summary: "Edit a partner's name, allowed addresses or rate limit",
      roles: STAFF,
      params: PartnerParams,
      body: Strict({
        name: Type.Optional(ShortText(100)),
        ipAllow: Type.Optional(Ips),
        rateLimit: Type.Optional(RateLimit),
      }),
      response: { 200: PartnerSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) => changed(partners.edit(actor, params.partnerId, body)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/partners/:partnerId/suspend',
      tag: 'partners',
      summary: 'Suspend a partner (its calls are refused)',
      roles: STAFF,
      params: PartnerParams,
      response: { 200: PartnerSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => changed(partners.suspend(actor, params.partnerId)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/partners/:partnerId/resume',
      tag: 'partners',
      summary: 'Resume a suspended partner',
      roles: STAFF,
      params: PartnerParams,
      response: { 200: PartnerSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => changed(partners.resume(actor, params.partnerId)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/partners/:partnerId/grant',
      tag: 'partners',
      summary: 'Grant interfaces',
      roles: STAFF,
      params: PartnerParams,
      body: Interfaces,
      response: { 200: PartnerSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) =>
        changed(partners.grant(actor, params.partnerId, body.interfaces)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/partners/:partnerId/revoke',
      tag: 'partners',
      summary: 'Revoke interfaces',
      roles: STAFF,
      params: PartnerParams,
      body: Interfaces,
      response: { 200: PartnerSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) =>
        changed(partners.revoke(actor, params.partnerId, body.interfaces)),
    }),
    apiRoute({
      method: 'PUT',
      url: '/admin/api/partners/:partnerId/callback',
      tag: 'partners',
      summary: "Set (or with null or '' remove) the URL the partner's card events are POSTed to",
      roles: STAFF,
      params: PartnerParams,
      body: Strict({ url: Nullable(Type.String({ maxLength: 1000, description: 'absolute http(s) URL' })) }),
      response: { 200: CallbackSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) => partners.setCallback(actor, params.partnerId, body.url),
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/partners/:partnerId/notify',
      tag: 'partners',
      summary: "The partner's callback URL and its newest card events with their delivery state",
      roles: STAFF,
      params: PartnerParams,
      querystring: Strict({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'default 50' })),
      }),
      response: {
        200: Type.Object({
          partnerId: Type.String(),
          callbackUrl: Nullable(Type.String()),
          events: Type.Array(NotifyEventSchema),
        }),
        404: ErrorSchema,
      },
      handler: async ({ actor, params, query }) => partners.notifyLog(actor, params.partnerId, query.limit),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/notify/:eventId/retry',
      tag: 'partners',
      summary: 'Deliver a card event again now (same event_id), whatever its state',
      roles: STAFF,
      params: Strict({ eventId: Id('the event id, a UUID') }),
      response: { 200: NotifyEventSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => partners.retryNotify(actor, params.eventId),
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/partners/:partnerId/keys',
      tag: 'keys',
      summary: "A partner's keys (never their md5key)",
      roles: ADMIN,
      params: PartnerParams,
      response: { 200: Type.Object({ keys: Type.Array(KeySchema) }), 404: ErrorSchema },
      handler: async ({ actor, params }) => ({ keys: await partners.listKeys(actor, params.partnerId) }),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/partners/:partnerId/keys',
      tag: 'keys',
      summary: 'Create a key; the answer is the only time its md5key is shown',
      roles: ADMIN,
      params: PartnerParams,
      body: OptionalBody(
        Strict({
          secId: Type.Optional(Type.String({ maxLength: 32, description: 'default k1, k2, …' })),
          signMode: Type.Optional(
            Type.Union([Type.Literal('basic'), Type.Literal('full')], { description: 'default full' }),
          ),
        }),
      ),
      response: { 201: CreatedKeySchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ actor, params, body }) =>
        changed(partners.createKey(actor, params.partnerId, body ?? {})),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/partners/:partnerId/keys/:secId/revoke',
      tag: 'keys',
      summary: 'Revoke a key; the partner’s other keys keep working',
      roles: ADMIN,
      params: KeyParams,
      response: { 200: KeySchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ actor, params }) =>
        changed(partners.revokeKey(actor, params.partnerId, params.secId)),
    }),
    apiRoute({
      method: 'PUT',
      url: '/admin/api/partners/:partnerId/prices/:targetType/:targetId',
      tag: 'prices',
      summary: "Set the partner's own settlement price for a cinema or kind",
      roles: STAFF,
      params: PriceParams,
      body: Strict({ price: Yuan() }),
      response: { 200: PartnerPriceSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) =>
        changed(
          partners.setPrice(
            actor,
            params.partnerId,
            { type: params.targetType, id: params.targetId },
            body.price,
          ),
        ),
    }),
    apiRoute({
      method: 'DELETE',
      url: '/admin/api/partners/:partnerId/prices/:targetType/:targetId',
      tag: 'prices',
      summary: "Clear the partner's own price (the default applies again); answers the cleared price",
      roles: STAFF,
      params: PriceParams,
      response: { 200: PartnerPriceSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) =>
        changed(
          partners.clearPrice(actor, params.partnerId, { type: params.targetType, id: params.targetId }),
        ),
    }),
  ];
}
