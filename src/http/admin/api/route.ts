import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../../db/schema.js';
import type { Actor } from '../../../domain/admin/audit.service.js';
import type { IdempotencyService } from '../../../domain/admin/idempotency.service.js';
import { requireRole, type SessionUser, verifyCsrf, verifySameOrigin } from '../auth/guards.js';
import { unauthenticated } from '../../../errors.js';
import { onceHeader } from '../once.js';
import { ErrorSchema } from './schemas.js';

type Infer<T> = T extends TSchema ? Static<T> : undefined;

export interface RouteContext<TBody, TParams, TQuery> {
  request: FastifyRequest;
  reply: FastifyReply;
  /** The signed-in user; throws for a public route without a session. */
  user: SessionUser;
  /** `user:NAME` and the role, for the services. */
  actor: Actor;
  body: TBody;
  params: TParams;
  query: TQuery;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiRouteSpec<
  B extends TSchema | undefined,
  P extends TSchema | undefined,
  Q extends TSchema | undefined,
> {
  method: Method;
  url: `/admin/api/${string}`;
  summary: string;
  description?: string;
  tag: string;
  /** Who may call it; `public` only for signing in. */
  roles: readonly Role[] | 'public';
  body?: B;
  params?: P;
  querystring?: Q;
  /** Body media types; default application/json. */
  consumes?: string[];
  /** Success media type; default application/json. */
  produces?: string;
  /** By status; the lowest 2xx is the success status. */
  response: Record<number, TSchema>;
  handler(ctx: RouteContext<Infer<B>, Infer<P>, Infer<Q>>): Promise<unknown>;
}

/** A route of the table, its types erased. */
export interface ApiRoute {
  spec: ApiRouteSpec<TSchema | undefined, TSchema | undefined, TSchema | undefined>;
}

/** Defines a route; the types of `body`, `params` and `querystring` flow into the handler. */
export function apiRoute<
  B extends TSchema | undefined = undefined,
  P extends TSchema | undefined = undefined,
  Q extends TSchema | undefined = undefined,
>(spec: ApiRouteSpec<B, P, Q>): ApiRoute {
  return { spec: spec as unknown as ApiRoute['spec'] };
}

/** Route config read by the OpenAPI builder. */
export interface AdminRouteConfig {
  roles?: readonly Role[] | 'public';
  /** The route honours an `Idempotency-Key` header. */
  idempotent?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call an /admin/api route (for the OpenAPI document). */
    roles?: readonly Role[] | 'public';
    /** The route honours an `Idempotency-Key` header (for the OpenAPI document). */
    idempotent?: boolean;
  }
}

/**
 * Registers the routes. With `idempotency`, POST/PUT/PATCH/DELETE routes honour an
 * `Idempotency-Key` header (see once.ts).
 */
export function registerApiRoutes(
  scope: FastifyInstance,
  routes: readonly ApiRoute[],
  opts: { idempotency?: IdempotencyService } = {},
): void {
  const once = opts.idempotency ? onceHeader(opts.idempotency) : undefined;
  for (const { spec } of routes) {
    const success = Math.min(
      ...Object.keys(spec.response)
        .map(Number)
        .filter((s) => s >= 200 && s < 300),
    );
    scope.route({
      method: spec.method,
      url: spec.url,
      schema: {
        summary: spec.summary,
        description: spec.description,
        tags: [spec.tag],
        ...(spec.body ? { body: spec.body } : {}),
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.querystring ? { querystring: spec.querystring } : {}),
        consumes: spec.consumes ?? ['application/json'],
        produces: [spec.produces ?? 'application/json'],
        response: {
          400: ErrorSchema,
          ...(spec.roles === 'public' ? {} : { 401: ErrorSchema, 403: ErrorSchema }),
          ...spec.response,
        },
      },
      config: { roles: spec.roles, idempotent: !!once && spec.method !== 'GET' } satisfies AdminRouteConfig,
      // Authentication and CSRF run before validation: a stranger learns nothing from 400s.
      preValidation: spec.roles === 'public' ? [verifySameOrigin] : [requireRole(...spec.roles), verifyCsrf],
      // After validation: a request refused as invalid has not used its Idempotency-Key.
      ...(once && spec.method !== 'GET' ? { preHandler: once } : {}),
      handler: async (request, reply) => {
        const signedIn = request.user;
        const ctx: RouteContext<unknown, unknown, unknown> = {
          request,
          reply,
          get user(): SessionUser {
            if (!signedIn) throw unauthenticated();
            return signedIn;
          },
          get actor(): Actor {
            if (!signedIn) throw unauthenticated();
            return { actor: `user:${signedIn.username}`, role: signedIn.role };
          },
          body: request.body,
          params: request.params,
          query: request.query,
        };
        const result = await spec.handler(ctx as never);
        if (reply.sent) return reply;
        return result === undefined ? reply.code(success).send() : reply.code(success).send(result);
      },
    });
  }
}
