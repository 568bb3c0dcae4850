import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Db } from '../../db/database.js';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  deleteExpiredIdempotencyKeys,
  findIdempotencyKey,
} from '../../db/idempotency.repository.js';
import { inTransaction } from '../../db/tx.js';
import type { Clock } from '../clock.js';

/*
 * One-time submissions: a console form's `_once` token or a JSON API `Idempotency-Key`.
 *
 * - A key is claimed (a pending row, unique per user and key) before the change runs, in a
 *   statement of its own; whoever loses the claim never runs the change. The result is stored
 *   when the response is ready, so a crash in between leaves the key pending ("in progress")
 *   until it expires: such a change may have happened, and it is never run a second time.
 * - Stored: SHA-256 of the key (never the key), the method, path and body hash it was used for,
 *   and the response sealed with AES-256-GCM under a key derived from the token (HKDF). A copy
 *   of the table alone reveals no response, so a stored key-created page or API answer does not
 *   disclose its md5key; the holder of the token (the browser that got the form, the API client)
 *   can read it back.
 * - Keys live 24 hours from their first use; the periodic sweep forgets them.
 */

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** A claim pending this long is taken as interrupted: its outcome is unknown. */
export const STALE_CLAIM_MS = 5 * 60_000;
/** Responses larger than this (compressed) are stored without their body. */
const MAX_SEALED_BYTES = 4 * 1024 * 1024;

export type IdempotencyScope = 'form' | 'api';

/** A response as the HTTP layer sent it; `body` null when it was not kept (too large, a stream). */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string | null;
}

export interface ClaimRequest {
  userId: string;
  scope: IdempotencyScope;
  /** The token or Idempotency-Key as sent. */
  key: string;
  method: string;
  path: string;
  /** `bodyHash(body)` for the API; '' for console forms (the token is bound to its form). */
  requestHash: string;
}

/** A claim this process won: pass it to `complete` once the response is known. */
export interface Ticket {
  readonly userId: string;
  readonly keyHash: string;
  readonly claimedAt: number;
  readonly sealKey: Buffer;
  readonly local: string;
  readonly owner: Waiter;
}

export type ClaimResult =
  | { kind: 'claimed'; ticket: Ticket }
  | { kind: 'replay'; response: StoredResponse }
  /** The key was used for another method, path or body. */
  | { kind: 'mismatch' }
  /** Another request holds the key and has not finished; `stale` when it seems interrupted. */
  | { kind: 'in_progress'; since: number; stale: boolean };

/** A fresh console submission token: 128 random bits, base64url (22 characters). */
export function newSubmissionToken(): string {
  return randomBytes(16).toString('base64url');
}

export function isSubmissionToken(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{22}$/.test(v);
}

/** SHA-256 of a request body as parsed (the same bytes parse to the same value). */
export function bodyHash(body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(body ?? null))
    .digest('hex');
}

const keyHashOf = (scope: IdempotencyScope, key: string) =>
  createHash('sha256').update(`movticket/idempotency\0${scope}\0${key}`).digest('hex');

function sealKeyOf(req: ClaimRequest): Buffer {
  return Buffer.from(
    hkdfSync('sha256', req.key, 'movticket/idempotency/seal', `${req.scope}\0${req.userId}`, 32),
  );
}

function seal(key: Buffer, aad: string, response: StoredResponse): string {
  let packed = deflateRawSync(JSON.stringify(response));
  if (packed.length > MAX_SEALED_BYTES) packed = deflateRawSync(JSON.stringify({ ...response, body: null }));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(packed), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
}

function unseal(key: Buffer, aad: string, sealed: string): StoredResponse {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(raw.subarray(12, 28));
  const packed = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  return JSON.parse(inflateRawSync(packed).toString('utf8')) as StoredResponse;
}

export interface Waiter {
  done: Promise<void>;
  settle: () => void;
}

function waiter(): Waiter {
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  return { done, settle };
}

export class IdempotencyService {
  /** Claims held by requests of this process, so a twin arriving here can wait for the first. */
  private readonly local = new Map<string, Waiter>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly ttlMs = IDEMPOTENCY_TTL_MS,
  ) {}

  /**
   * Claims `req.key` for a request about to run, or says why not. With `waitMs`, a twin of a
   * request still running in this process waits (up to `waitMs`) for its result instead of
   * being told it is in progress.
   */
  async claim(req: ClaimRequest, opts: { waitMs?: number } = {}): Promise<ClaimResult> {
    const keyHash = keyHashOf(req.scope, req.key);
    const local = `${req.userId}\0${keyHash}`;
    const sealKey = sealKeyOf(req);
    const running = this.local.get(local);
    if (running && opts.waitMs) await waitAtMost(running.done, opts.waitMs);
    for (let attempt = 0; ; attempt++) {
      const now = this.clock.now();
      if (!this.local.has(local)) {
        const mine = waiter();
        this.local.set(local, mine);
        let won = false;
        try {
          won = await inTransaction(this.db, (tx) =>
            claimIdempotencyKey(
              tx,
              {
                user_id: req.userId,
                key_hash: keyHash,
                scope: req.scope,
                method: req.method,
                path: req.path,
                request_hash: req.requestHash,
                state: 'pending',
                status: null,
                response: null,
                created_at: now,
                expires_at: now + this.ttlMs,
              },
              now,
            ),
          );
        } finally {
          if (!won) {
            this.local.delete(local);
            mine.settle();
          }
        }
        if (won) {
          return {
            kind: 'claimed',
            ticket: { userId: req.userId, keyHash, claimedAt: now, sealKey, local, owner: mine },
          };
        }
      }
      const row = await findIdempotencyKey(this.db.kysely, req.userId, keyHash);
      if (!row || row.expires_at <= now) {
        // A twin here claimed it and has not committed yet, or it expired in between: look again.
        if (this.local.has(local)) return { kind: 'in_progress', since: now, stale: false };
        if (attempt < 2) continue;
        return { kind: 'in_progress', since: now, stale: false };
      }
      if (row.method !== req.method || row.path !== req.path || row.request_hash !== req.requestHash) {
        return { kind: 'mismatch' };
      }
      if (row.state === 'pending' || row.response === null || row.status === null) {
        return { kind: 'in_progress', since: row.created_at, stale: now - row.created_at > STALE_CLAIM_MS };
      }
      return { kind: 'replay', response: unseal(sealKey, keyHash, row.response) };
    }
  }

  /** Stores the response of a claimed request; twins waiting here then read it. */
  async complete(ticket: Ticket, response: StoredResponse): Promise<void> {
    try {
      const sealed = seal(ticket.sealKey, ticket.keyHash, response);
      await inTransaction(this.db, (tx) => completeIdempotencyKey(tx, ticket, response.status, sealed));
    } finally {
      this.release(ticket);
    }
  }

  /** Lets twins waiting here go on without a stored result (they see the claim in progress). */
  release(ticket: Ticket): void {
    if (this.local.get(ticket.local) === ticket.owner) this.local.delete(ticket.local);
    ticket.owner.settle();
  }

  /** Forgets expired keys; returns how many. */
  prune(): Promise<number> {
    return pruneIdempotencyKeys(this.db, this.clock.now());
  }
}

/** Forgets keys that expired by `now` (the periodic sweep calls this). */
export function pruneIdempotencyKeys(db: Db, now: number): Promise<number> {
  return inTransaction(db, (tx) => deleteExpiredIdempotencyKeys(tx, now));
}

async function waitAtMost(done: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
