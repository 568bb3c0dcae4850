import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/** A query executor: the database itself or an open transaction. Opaque to the domain. */
export type Executor = Kysely<Database> | Transaction<Database>;
