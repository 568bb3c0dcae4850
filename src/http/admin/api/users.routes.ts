import { Type } from '@sinclair/typebox';
import type { AdminDeps } from '../deps.js';
import { ADMIN, RoleInput, Strict } from './common.js';
import { apiRoute } from './route.js';
import { ErrorSchema, UserSchema } from './schemas.js';

const Username = Strict({ username: Type.String({ minLength: 1, maxLength: 64 }) });
const Password = Type.String({ maxLength: 256, description: 'at least 10 characters' });

/** Accounts of the platform: admins only. */
export function userRoutes(deps: AdminDeps) {
  const { users } = deps;
  return [
    apiRoute({
      method: 'GET',
      url: '/admin/api/users',
      tag: 'users',
      summary: 'List accounts',
      roles: ADMIN,
      response: { 200: Type.Object({ users: Type.Array(UserSchema) }) },
      handler: async ({ actor }) => ({ users: await users.list(actor) }),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/users',
      tag: 'users',
      summary: 'Create an account',
      roles: ADMIN,
      body: Strict({
        username: Type.String({ maxLength: 64 }),
        password: Password,
        role: RoleInput,
        cinemaId: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
      }),
      response: { 201: UserSchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ actor, body }) => users.create(actor, body),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/users/:username/disable',
      tag: 'users',
      summary: 'Disable an account (ends its sessions)',
      roles: ADMIN,
      params: Username,
      response: { 200: UserSchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ actor, params }) => users.disable(actor, params.username),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/users/:username/enable',
      tag: 'users',
      summary: 'Enable an account',
      roles: ADMIN,
      params: Username,
      response: { 200: UserSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => users.enable(actor, params.username),
    }),
    apiRoute({
      method: 'PUT',
      url: '/admin/api/users/:username/password',
      tag: 'users',
      summary: "Reset an account's password (ends its sessions)",
      roles: ADMIN,
      params: Username,
      body: Strict({ password: Password }),
      response: { 200: UserSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) => users.resetPassword(actor, params.username, body.password),
    }),
  ];
}
