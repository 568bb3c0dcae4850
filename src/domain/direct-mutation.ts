import type { RequestRow } from '../db/request.repository.js';
import type { Executor } from '../db/tx.js';
import type { WireObject } from './wire.js';

/**
 * A mutation whose writes are all known before it runs (it reads nothing first, as a buy), or
 * known from one read (a payment): on PostgreSQL it is stored with its req_id claim in one
 * statement, one round trip (see `RequestLog.runOnceDirect`).
 */
export interface DirectMutation {
  /** Writes the effect inside `tx` (the claim follows in the same transaction); the answer. */
  write(tx: Executor): Promise<WireObject>;
  /**
   * Writes the effect and the claim `claimOf(answer JSON)` as one statement; undefined, with
   * nothing written, when a twin holds the req_id.
   */
  writeWithClaim(
    db: Executor,
    claimOf: (json: string) => RequestRow,
  ): Promise<{ data: WireObject; json: string } | undefined>;
}
