import { createHash } from 'node:crypto';
import type { Db } from '../db/database.js';
import {
  claimRequest,
  findRequest,
  findRequests,
  insertRequests,
  pruneRequests,
  type RequestRow,
  upsertAnswers,
} from '../db/request.repository.js';
import type { Executor } from '../db/tx.js';
import type { WireObject } from './wire.js';
import { ApiError, unavailable } from '../errors.js';
import type { Clock } from './clock.js';
import type { SecretBox } from './secret-box.js';

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
  /** Set on an answer that repeats across requests (a catalog page): it is stored once. */
  answerHash?: string;
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
type PendingRead = StoredResult & { partnerId: string; reqId: string; at: number; answerHash?: string };

const FLUSH_ROWS = 200;
const LOOKUP_CHUNK = 100;
/** A shared answer's `last_used` is moved forward at most this often; pruning allows for the lag. */
const ANSWER_REFRESH_MS = 3_600_000;
/** Bound on the answers whose storing this process remembers. */
const ANSWERS_REMEMBERED = 10_000;

/** Key of an answer that many requests may share (128 bits of SHA-256). */
export function answerHash(body: string): string {
  return createHash('sha256').update(body).digest('base64url').slice(0, 22);
}

interface Waiter {
  resolve: (row: RequestRow | undefined) => void;
  reject: (err: unknown) => void;
}

export class RequestLog {
  /** Answered reads not yet handed to the database. */
  private pending = new Map<string, PendingRead>();
  /** Reads being written right now; still visible to lookups until stored. */
  private writing = new Map<string, PendingRead>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lookups = new Map<string, Map<string, Waiter[]>>();
  private lookupScheduled = false;
  /** Shared answers this process stored, with the `last_used` it gave them. */
  private answersStored = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Seals a mutation's stored answer (payByCard's holds the card password); opens it to replay. */
    private readonly secrets: SecretBox,
    private readonly onFlushError: (err: unknown) => void = () => {},
  ) {}

  /** The earlier result for this req_id, or undefined when it is new; 409 when it differs. */
  async replay(partnerId: string, reqId: string, method: string, hash: string): Promise<Outcome | undefined> {
    const key = `${partnerId}\0${reqId}`;
    const remembered = this.pending.get(key) ?? this.writing.get(key);
    if (remembered) return replayOf(remembered, method, hash, reqId);
    const row = await this.lookup(partnerId, reqId);
    if (!row) return undefined;
    return replayOf(this.storedOf(row), method, hash, reqId);
  }

  /** Lookups made in the same turn of the event loop share one query per partner. */
  private lookup(partnerId: string, reqId: string): Promise<RequestRow | undefined> {
    return new Promise((resolve, reject) => {
      let byReq = this.lookups.get(partnerId);
      if (!byReq) this.lookups.set(partnerId, (byReq = new Map()));
      const waiters = byReq.get(reqId);
      if (waiters) waiters.push({ resolve, reject });
      else byReq.set(reqId, [{ resolve, reject }]);
      if (!this.lookupScheduled) {
        this.lookupScheduled = true;
        setImmediate(() => this.runLookups());
      }
    });
  }

  private runLookups(): void {
    const all = this.lookups;
    this.lookups = new Map();
    this.lookupScheduled = false;
    for (const [partnerId, byReq] of all) {
      const reqIds = [...byReq.keys()];
      for (let i = 0; i < reqIds.length; i += LOOKUP_CHUNK) {
        const chunk = reqIds.slice(i, i + LOOKUP_CHUNK);
        findRequests(this.db.kysely, partnerId, chunk).then(
          (rows) => {
            const found = new Map(rows.map((r) => [r.req_id, r]));
            for (const id of chunk) for (const w of byReq.get(id)!) w.resolve(found.get(id));
          },
          (err: unknown) => {
            for (const id of chunk) for (const w of byReq.get(id)!) w.reject(err);
          },
        );
      }
    }
  }

  /**
   * Remembers an answered read; written with others shortly after. An answer with an
   * `answerHash` is stored once however many requests share it; one without stays with its
   * request (a card's status, which rarely repeats).
   */
  rememberRead(
    partnerId: string,
    reqId: string,
    method: string,
    hash: string,
    answer: { json: string; answerHash?: string },
  ): void {
    this.pending.set(`${partnerId}\0${reqId}`, {
      partnerId,
      reqId,
      method,
      paramsHash: hash,
      code: 200,
      body: answer.json,
      answerHash: answer.answerHash,
      at: this.clock.now(),
    });
    if (!this.flushing) this.flushTimer ??= setTimeout(() => void this.flush(), 5);
  }

  /** Writes remembered reads; resolves when everything remembered so far is stored (or failed). */
  flush(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    this.flushing ??= this.writeAll().finally(() => {
      this.flushing = null;
      if (this.pending.size > 0) this.flushTimer ??= setTimeout(() => void this.flush(), 5);
    });
    return this.flushing;
  }

  /** One writer at a time: takes what is pending, writes it in chunks, repeats until none is left. */
  private async writeAll(): Promise<void> {
    while (this.pending.size > 0) {
      this.writing = this.pending;
      this.pending = new Map();
      const rows = [...this.writing.values()].map((r) => ({
        partner_id: r.partnerId,
        req_id: r.reqId,
        method: r.method,
        params_hash: r.paramsHash,
        code: r.code,
        body: r.answerHash === undefined ? r.body : null,
        answer_hash: r.answerHash ?? null,
        created_at: r.at,
      }));
      const answers = this.answersToStore(this.writing.values());
      try {
        await this.db.writeTransaction(async (tx) => {
          for (let i = 0; i < answers.length; i += FLUSH_ROWS)
            await upsertAnswers(tx, answers.slice(i, i + FLUSH_ROWS));
          for (let i = 0; i < rows.length; i += FLUSH_ROWS)
            await insertRequests(tx, rows.slice(i, i + FLUSH_ROWS));
        });
        if (this.answersStored.size + answers.length > ANSWERS_REMEMBERED) this.answersStored.clear();
        for (const a of answers) this.answersStored.set(a.hash, a.last_used);
        this.writing = new Map();
      } catch (err) {
        this.onFlushError(err);
        // Keep them for the next try; a newer answer for the same key wins.
        for (const [key, r] of this.writing) if (!this.pending.has(key)) this.pending.set(key, r);
        this.writing = new Map();
        await new Promise((r) => setTimeout(r, 1000).unref());
        return;
      }
    }
  }

  /**
   * The shared answers among `reads` not stored by this process within the refresh interval,
   * each with its newest use; sorted so concurrent writers lock rows in one order.
   */
  private answersToStore(reads: Iterable<PendingRead>) {
    const newest = new Map<string, PendingRead>();
    for (const r of reads) {
      if (r.answerHash === undefined) continue;
      const stored = this.answersStored.get(r.answerHash);
      if (stored !== undefined && r.at - stored < ANSWER_REFRESH_MS) continue;
      const seen = newest.get(r.answerHash);
      if (!seen || seen.at < r.at) newest.set(r.answerHash, r);
    }
    return [...newest.values()]
      .map((r) => ({ hash: r.answerHash!, body: r.body, last_used: r.at }))
      .sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
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
          body: this.secrets.seal(json),
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
      return replayOf(this.storedOf(row), method, hash, reqId);
    }
  }

  /** A stored request as replayed: its answer opened (a read's, or an older one, is plain). */
  private storedOf(row: RequestRow): StoredResult {
    return {
      method: row.method,
      paramsHash: row.params_hash,
      code: row.code,
      body: this.secrets.open(row.body),
    };
  }

  /**
   * Forgets req_ids older than the retention, and shared answers no request can still point
   * at (their `last_used` lags by up to the refresh interval); returns how many req_ids.
   */
  prune(retentionMs: number): Promise<number> {
    const before = this.clock.now() - retentionMs;
    return pruneRequests(this.db.kysely, before, before - ANSWER_REFRESH_MS);
  }
}
