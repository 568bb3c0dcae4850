import { createHash } from 'node:crypto';
import type { Db } from '../db/database.js';
import { claimRequest, findRequest, insertRequests, pruneRequests } from '../db/request.repository.js';
import type { Executor } from '../db/tx.js';
import type { WireObject } from './wire.js';
import { ApiError, unavailable } from '../errors.js';
import type { Clock } from './clock.js';

export interface StoredResult {
  method: string;
  paramsHash: string;
  code: number;
  /** JSON of `data`. */
  body: string;
}

/** Outcome of a request: fresh, or the original result of an earlier request with this req_id. */
export interface Outcome {
  code: number;
  data: WireObject;
  /** JSON of `data`, when already at hand. */
  json?: string;
  /** Rendered XML of `data`, kept once made. */
  xml?: string;
  replayed: boolean;
}

/** Fingerprint of what makes two requests "the same" (timestamp, hashcode and format excluded). */
export function paramsHash(method: string, signed: readonly string[]): string {
  return createHash('sha256').update(method).update('\0').update(signed.join('\0')).digest('base64url');
}

class TwinCommitted extends Error {}

const duplicate = (reqId: string) =>
  new ApiError(
    'duplicate_req_id',
    `req_id ${reqId} was already used with other parameters; use a new req_id`,
  );

function replayOf(stored: StoredResult, method: string, hash: string, reqId: string): Outcome {
  if (stored.method !== method || stored.paramsHash !== hash) throw duplicate(reqId);
  return {
    code: stored.code,
    data: JSON.parse(stored.body) as WireObject,
    json: stored.body,
    replayed: true,
  };
}

/**
 * Per-partner req_id memory. Mutations claim their req_id in the transaction of their effect;
 * reads are remembered in batches (a read has no effect to protect, so sharing commits is safe).
 */
export class RequestLog {
  private readonly pendingReads = new Map<
    string,
    StoredResult & { partnerId: string; reqId: string; at: number }
  >();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly onFlushError: (err: unknown) => void = () => {},
  ) {}

  /** The earlier result for this req_id, or undefined when it is new; 409 when it differs. */
  async replay(partnerId: string, reqId: string, method: string, hash: string): Promise<Outcome | undefined> {
    const pending = this.pendingReads.get(`${partnerId}\0${reqId}`);
    if (pending) return replayOf(pending, method, hash, reqId);
    const row = await findRequest(this.db.kysely, partnerId, reqId);
    if (!row) return undefined;
    return replayOf(
      { method: row.method, paramsHash: row.params_hash, code: row.code, body: row.body },
      method,
      hash,
      reqId,
    );
  }

  /** Remembers an answered read; written with others shortly after. */
  rememberRead(partnerId: string, reqId: string, method: string, hash: string, json: string): void {
    this.pendingReads.set(`${partnerId}\0${reqId}`, {
      partnerId,
      reqId,
      method,
      paramsHash: hash,
      code: 200,
      body: json,
      at: this.clock.now(),
    });
    if (this.pendingReads.size >= 500) void this.flush();
    else this.flushTimer ??= setTimeout(() => void this.flush(), 5);
  }

  /** Writes remembered reads. */
  flush(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.pendingReads.size === 0) return this.flushing;
    const batch = [...this.pendingReads.values()];
    const run = async () => {
      try {
        for (let i = 0; i < batch.length; i += 200) {
          await insertRequests(
            this.db.kysely,
            batch.slice(i, i + 200).map((r) => ({
              partner_id: r.partnerId,
              req_id: r.reqId,
              method: r.method,
              params_hash: r.paramsHash,
              code: r.code,
              body: r.body,
              created_at: r.at,
            })),
          );
        }
        for (const r of batch) {
          const key = `${r.partnerId}\0${r.reqId}`;
          if (this.pendingReads.get(key) === r) this.pendingReads.delete(key);
        }
      } catch (err) {
        this.onFlushError(err);
        if (this.pendingReads.size > 0) this.flushTimer ??= setTimeout(() => void this.flush(), 1000);
      }
    };
    this.flushing = this.flushing.then(run);
    return this.flushing;
  }

  /**
   * Runs a mutation once per req_id: the req_id row is written in the same transaction as the
   * effect, so of concurrent duplicates only one effect is stored, and the others (which wait
   * for it on PostgreSQL's unique index) answer with its result. A rejected request (any
   * thrown error) stores nothing.
   */
  async runOnce(
    partnerId: string,
    reqId: string,
    method: string,
    hash: string,
    effect: (tx: Executor) => Promise<WireObject>,
  ): Promise<Outcome> {
    try {
      return await this.db.writeTransaction(async (tx) => {
        const data = await effect(tx);
        const json = JSON.stringify(data);
        const stored = await claimRequest(tx, {
          partner_id: partnerId,
          req_id: reqId,
          method,
          params_hash: hash,
          code: 200,
          body: json,
          created_at: this.clock.now(),
        });
        // A twin got there first: undo this effect and answer with the twin's result.
        if (!stored) throw new TwinCommitted();
        return { code: 200, data, json, replayed: false };
      });
    } catch (err) {
      // A twin with this req_id may have committed while we ran (our effect then failed, e.g.
      // the card was already paid, or our req_id row collided): its result is the answer.
      if (!(err instanceof TwinCommitted || err instanceof ApiError)) throw err;
      const row = await findRequest(this.db.kysely, partnerId, reqId);
      if (!row) {
        if (err instanceof TwinCommitted)
          throw unavailable('req_id is being processed; retry with the same req_id');
        throw err;
      }
      return replayOf(
        { method: row.method, paramsHash: row.params_hash, code: row.code, body: row.body },
        method,
        hash,
        reqId,
      );
    }
  }

  /** Forgets req_ids older than the retention; returns how many. */
  prune(retentionMs: number): Promise<number> {
    return pruneRequests(this.db.kysely, this.clock.now() - retentionMs);
  }
}
