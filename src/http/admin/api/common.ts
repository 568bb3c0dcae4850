import { type TObject, type TSchema, Type } from '@sinclair/typebox';
import type { Role } from '../../../db/schema.js';

export const ADMIN: readonly Role[] = ['admin'];
export const STAFF: readonly Role[] = ['admin', 'operator'];
export const ANYONE: readonly Role[] = ['admin', 'operator', 'cinema'];

/** A short identifier or code in a path or query; the services check the exact rule. */
/** An identifier: 1–64 characters, none of them a control character. */
export const Id = (description?: string) =>
  Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description });
export const ShortText = (maxLength = 200, description?: string) => Type.String({ maxLength, description });
export const Day = (description = 'YYYY-MM-DD in the platform time zone') =>
  Type.String({ maxLength: 10, description });
export const Yuan = (description = 'yuan, e.g. "35.00"') => Type.String({ maxLength: 20, description });

/** A JSON body whose fields are all optional: an absent body counts as `{}`. */
export const OptionalBody = <T extends TObject>(t: T) => Type.Union([t, Type.Null()]);

export const Strict = <T extends Record<string, TSchema>>(properties: T) =>
  Type.Object(properties, { additionalProperties: false });

export const RoleInput = Type.Union([
  Type.Literal('admin'),
  Type.Literal('operator'),
  Type.Literal('cinema'),
]);
