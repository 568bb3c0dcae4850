import { randomUUID } from 'node:crypto';

/**
 * A version 7 UUID (RFC 9562): the first 48 bits are `atMs`, the other 74 are random. Rows keyed
 * by it are inserted at the end of their primary-key index, so the rows written together share
 * its last page instead of each landing on a page of its own (a random UUID touched one index
 * page per SMS). It tells when the row was made, nothing more; use it for rows whose creation
 * time is no secret (outbox messages). The random bits come from `randomUUID()`, whose entropy
 * is drawn in blocks (a system call per UUID costs several microseconds here).
 */
export function timeOrderedId(atMs: number): string {
  const ts = Math.max(0, Math.floor(atMs)).toString(16).padStart(12, '0').slice(-12);
  // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx: keep the random 3 hex digits after the version and the
  // variant group with the last 12 random digits.
  const random = randomUUID();
  return `${ts.slice(0, 8)}-${ts.slice(8)}-7${random.slice(15)}`;
}
