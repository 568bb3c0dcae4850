import { createHash } from 'node:crypto';
import type { Db } from '../db/database.js';
import {
  BOUND_CODE,
  claimRequest,
  findRequest,
  findRequests,
  pruneRequests,
  type RequestRow,
  storeRequests,
  upsertAnswers,
} from '../db/request.repository.js';
import type { Executor } from '../db/tx.js';
import type { DirectMutation } from './direct-mutation.js';
import type { WireObject } from './wire.js';
import { AppError, contractError, type ErrorType, StorageUnavailable, unavailable } from '../errors.js';
import type { Clock } from './clock.js';
import type { SecretBox } from './secret-box.js';

/** A request as its req_id is bound to it: the interface and the fingerprint of its parameters. */
export interface RequestKey {
  partnerId: string;
  reqId: string;
  method: string;
  hash: string;
}

export interface StoredResult {
  method: string;
  paramsHash: string;
  /** 200 with the answer's data; a refusal's status with its type and message; or BOUND_CODE. */
  code: number;
  /** JSON of `data`, or of `{type, message}` for a refusal; null when bound only. */
  body: string | null;
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

/**
 * Refusals an interface gives after it started running that depend on nothing a retry could
 * change: stored with the req_id and answered again to an identical request.
 */
const FINAL_REFUSALS: ReadonlySet<ErrorType> = new Set([
  'not_found',
  'card_state',
  'price_mismatch',
  'order_exists',
]);

export function isFinalRefusal(err: unknown): err is AppError {
  return err instanceof AppError && FINAL_REFUSALS.has(err.type);
}

export function isDuplicateReqId(err: unknown): boolean {
  return err instanceof AppError && err.type === 'duplicate_req_id';
}

const refusalBody = (err: AppError) =>
  JSON.stringify(
    Object.keys(err.extra).length > 0
      ? { type: err.type, message: err.message, extra: err.extra }
      : { type: err.type, message: err.message },
  );

class TwinCommitted extends Error {}

const duplicate = (reqId: string) =>
  contractError(
    'duplicate_req_id',
    `req_id ${reqId} was already used with other parameters; use a new req_id`,
  );

const sameRequest = (a: { method: string; paramsHash: string }, b: RequestKey) =>
  a.method === b.method && a.paramsHash === b.hash;

/**
 * What an earlier request with this req_id means for `key`: its answer (replayed), its final
 * refusal (thrown again), nothing (bound only: `key` may run), or 409 when it was another request.
 */
function replayOf(stored: StoredResult, key: RequestKey): Outcome | undefined {
  if (!sameRequest(stored, key)) throw duplicate(key.reqId);
  if (stored.code === BOUND_CODE || stored.body === null) return undefined;
  if (stored.code !== 200) {
    const refusal = JSON.parse(stored.body) as {
      type: ErrorType;
      message: string;
      extra?: Record<string, string>;
    };
    throw new AppError(refusal.type, refusal.message, { extra: refusal.extra });
  }
  return {
    code: stored.code,
    data: JSON.parse(stored.body) as WireObject,
    json: stored.body,
    replayed: true,
  };
}

/**
 * Per-partner req_id memory. Once a request's signature and timestamp have verified, its
 * req_id is bound to its interface and parameters whatever the outcome. Mutations claim their
 * req_id in the transaction of their effect; everything else (read answers, read refusals,
 * bindings) is remembered in memory at once and written in batches.
 */
type Pending = StoredResult & { partnerId: string; reqId: string; at: number; answerHash?: string };

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

const keyOf = (partnerId: string, reqId: string) => `${partnerId}\0${reqId}`;

export class RequestLog {
  /** Remembered requests not yet handed to the database. */
  private pending = new Map<string, Pending>();
  /** Requests being written right now; still visible to lookups until stored. */
  private writing = new Map<string, Pending>();
  /** req_ids of requests running in this process, so a different request cannot run beside them. */
  private held = new Map<string, { method: string; paramsHash: string; count: number }>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lookups = new Map<string, Map<string, Waiter[]>>();
  private lookupScheduled = false;
  /** Shared answers this process stored, with the `last_used` it gave them. */
  private answersStored = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Seals a stored answer that holds a card password (payByCard's); opens it to replay. */
    private readonly secrets: SecretBox,
    private readonly onFlushError: (err: unknown) => void = () => {},
  ) {}

  /**
   * The earlier answer for this req_id (its final refusal is thrown; 409 when it was another
   * request), or undefined when `key` may run: the req_id is then held for it until `release`.
   */
  async hold(key: RequestKey): Promise<Outcome | undefined> {
    const k = keyOf(key.partnerId, key.reqId);
    const early = this.remembered(k);
    if (early) {
      const replayed = replayOf(early, key);
      if (replayed) return replayed;
    }
    // Bound only in memory, it may still have been answered by a mutation: ask the database.
    const row = await this.lookup(key.partnerId, key.reqId);
    if (row) {
      const replayed = replayOf(this.storedOf(row), key);
      if (replayed) return replayed;
    }
    // Judged again after the wait: all below is synchronous, so holding cannot race.
    const late = this.remembered(k);
    if (late) {
      const replayed = replayOf(late, key);
      if (replayed) return replayed;
    }
    const running = this.held.get(k);
    if (running && !sameRequest(running, key)) throw duplicate(key.reqId);
    if (running) running.count++;
    else this.held.set(k, { method: key.method, paramsHash: key.hash, count: 1 });
    return undefined;
  }

  /** Ends a hold taken by `hold`; what the request came to must be recorded before. */
  release(key: RequestKey): void {
    const k = keyOf(key.partnerId, key.reqId);
    const running = this.held.get(k);
    if (running && --running.count === 0) this.held.delete(k);
  }

  private remembered(k: string): Pending | undefined {
    return this.pending.get(k) ?? this.writing.get(k);
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
  rememberRead(key: RequestKey, answer: { json: string; answerHash?: string }): void {
    this.remember(key, 200, answer.json, answer.answerHash);
  }

  /** Remembers a read's final refusal, answered again to an identical request. */
  rememberRefusal(key: RequestKey, err: AppError): void {
    this.remember(key, err.partnerStatus, refusalBody(err));
  }

  /**
   * Binds the req_id to `key` with no answer: an identical request is judged afresh, any other
   * one is refused. Nothing changes when the req_id is already remembered.
   */
  bind(key: RequestKey): void {
    this.remember(key, BOUND_CODE, null);
  }

  /** The first request remembered under a req_id wins, except that an answer replaces its binding. */
  private remember(key: RequestKey, code: number, body: string | null, answer?: string): void {
    const k = keyOf(key.partnerId, key.reqId);
    const current = this.remembered(k);
    if (current && !(current.code === BOUND_CODE && code !== BOUND_CODE && sameRequest(current, key))) return;
    this.pending.set(k, {
      partnerId: key.partnerId,
      reqId: key.reqId,
      method: key.method,
      paramsHash: key.hash,
      code,
      body,
      answerHash: answer,
      at: this.clock.now(),
    });
    if (!this.flushing) this.flushTimer ??= setTimeout(() => void this.flush(), 5);
  }

  /** Writes remembered requests; resolves when everything remembered so far is stored (or failed). */
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
        // Reads, their refusals and bindings: a power cut that loses them makes a retry run
        // again what changed nothing, so they need no fsync of their own.
        await this.db.writeTransaction(
          async (tx) => {
            for (let i = 0; i < answers.length; i += FLUSH_ROWS)
              await upsertAnswers(tx, answers.slice(i, i + FLUSH_ROWS));
            for (let i = 0; i < rows.length; i += FLUSH_ROWS)
              await storeRequests(tx, rows.slice(i, i + FLUSH_ROWS));
          },
          { durable: false },
        );
        if (this.answersStored.size + answers.length > ANSWERS_REMEMBERED) this.answersStored.clear();
        for (const a of answers) this.answersStored.set(a.hash, a.last_used);
        this.writing = new Map();
      } catch (err) {
        this.onFlushError(err);
        // Keep them for the next try; a newer entry for the same key wins unless it is a
        // binding of what the older one answered.
        for (const [key, r] of this.writing) {
          const newer = this.pending.get(key);
          if (!newer || (newer.code === BOUND_CODE && r.code !== BOUND_CODE)) this.pending.set(key, r);
        }
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
  private answersToStore(reads: Iterable<Pending>) {
    const newest = new Map<string, Pending>();
    for (const r of reads) {
      if (r.answerHash === undefined) continue;
      const stored = this.answersStored.get(r.answerHash);
      if (stored !== undefined && r.at - stored < ANSWER_REFRESH_MS) continue;
      const seen = newest.get(r.answerHash);
      if (!seen || seen.at < r.at) newest.set(r.answerHash, r);
    }
    return [...newest.values()]
      .map((r) => ({ hash: r.answerHash!, body: r.body!, last_used: r.at }))
      .sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  }

  /**
   * Runs a mutation once per req_id: the req_id row is written in the same transaction as the
   * effect, so of concurrent duplicates only one effect is stored, and the others (which wait
   * for it on PostgreSQL's unique index) answer with its result. A final refusal is stored after
   * its effect is rolled back, under the same rule; any other error stores nothing here. With
   * `sealAnswer` (an answer holding a card password) the stored copy is sealed at rest.
   */
  async runOnce(
    key: RequestKey,
    effect: (tx: Executor) => Promise<WireObject>,
    opts: { sealAnswer: boolean },
  ): Promise<Outcome> {
    try {
      return await this.db.writeTransaction(async (tx) => {
        const data = await effect(tx);
        const json = JSON.stringify(data);
        // A twin got there first: undo this effect and answer with the twin's result.
        if (!(await claimRequest(tx, this.claimRow(key, 200, json, opts)))) throw new TwinCommitted();
        return { code: 200, data, json, replayed: false };
      });
    } catch (err) {
      return this.afterFailure(key, err);
    }
  }

  /**
   * `runOnce` for a mutation whose writes are known before it runs: the same guarantees, and on
   * PostgreSQL one statement instead of a transaction of several. `prepare` may throw a refusal.
   */
  async runOnceDirect(
    key: RequestKey,
    prepare: () => DirectMutation,
    opts: { sealAnswer: boolean },
  ): Promise<Outcome> {
    if (this.db.engine !== 'postgres') return this.runOnce(key, (tx) => prepare().write(tx), opts);
    try {
      const stored = await this.storeWithClaim(key, prepare(), opts);
      if (!stored) throw new TwinCommitted();
      return { code: 200, data: stored.data, json: stored.json, replayed: false };
    } catch (err) {
      return this.afterFailure(key, err);
    }
  }

  /**
   * `runOnce` for a mutation that judges what it reads: on PostgreSQL it first tries one read and
   * one statement; when that wrote nothing (the card changed, a twin holds the req_id), `write`
   * runs as `runOnce` would run it, and answers as it would.
   */
  async runOnceChecked(key: RequestKey, mutation: DirectMutation, opts: { sealAnswer: boolean }) {
    if (this.db.engine === 'postgres') {
      try {
        const stored = await this.storeWithClaim(key, mutation, opts);
        if (stored) return { code: 200, data: stored.data, json: stored.json, replayed: false };
      } catch (err) {
        if (!this.db.isUniqueViolation(err)) return this.afterFailure(key, err);
      }
    }
    return this.runOnce(key, (tx) => mutation.write(tx), opts);
  }

  /** The mutation and its claim as one statement (PostgreSQL). */
  private storeWithClaim(key: RequestKey, mutation: DirectMutation, opts: { sealAnswer: boolean }) {
    return mutation.writeWithClaim(this.db.kysely, (json) => this.claimRow(key, 200, json, opts));
  }

  private claimRow(key: RequestKey, code: number, json: string, opts?: { sealAnswer: boolean }): RequestRow {
    return {
      partner_id: key.partnerId,
      req_id: key.reqId,
      method: key.method,
      params_hash: key.hash,
      code,
      body: opts?.sealAnswer ? this.secrets.seal(json) : json,
      created_at: this.clock.now(),
    };
  }

  /**
   * After a mutation stored nothing: its final refusal is stored and thrown; a twin's stored
   * result is the answer; anything else is thrown as it is.
   */
  private async afterFailure(key: RequestKey, err: unknown): Promise<Outcome> {
    if (!(err instanceof TwinCommitted || err instanceof AppError) || err instanceof StorageUnavailable)
      throw err;
    if (
      isFinalRefusal(err) &&
      (await this.db.writeTransaction((tx) =>
        claimRequest(tx, this.claimRow(key, err.partnerStatus, refusalBody(err))),
      ))
    ) {
      throw err;
    }
    // A twin with this req_id may have committed while we ran (our effect then failed, e.g.
    // the card was already paid, or our req_id row collided): its result is the answer.
    const stored = await findRequest(this.db.kysely, key.partnerId, key.reqId);
    const replayed = stored && replayOf(this.storedOf(stored), key);
    if (replayed) return replayed;
    if (err instanceof TwinCommitted)
      throw unavailable('req_id is being processed; retry with the same req_id');
    throw err;
  }

  /** A stored request as replayed: its answer opened (a read's, or an older one, is plain). */
  private storedOf(row: RequestRow): StoredResult {
    return {
      method: row.method,
      paramsHash: row.params_hash,
      code: row.code,
      body: row.body === null ? null : this.secrets.open(row.body),
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
