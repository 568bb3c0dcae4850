import { sql } from 'kysely';
import type { Executor } from './executor.js';

// The columns that hold sealed secrets, scanned in primary-key order for values that do not
// start with `keep` (a plaintext value when `keep` is `v1:`, one sealed by an older key when it
// is `v1:<current key id>:`). Every write is a compare-and-set on the value read, so a value
// that changed meanwhile (the card was paid again, the SMS was sent) is left to its writer.

const prefixIsNot = (column: string, keep: string) =>
  sql`substr(${sql.ref(column)}, 1, ${keep.length}) <> ${keep}`;

export function findCardPasswordsNotStartingWith(
  db: Executor,
  keep: string,
  afterCardNo: string,
  limit: number,
): Promise<{ card_no: string; password: string }[]> {
  return sql<{ card_no: string; password: string }>`select card_no, password from cards
    where password is not null and ${prefixIsNot('password', keep)} and card_no > ${afterCardNo}
    order by card_no limit ${limit}`
    .execute(db)
    .then((r) => r.rows);
}

export async function replaceCardPassword(
  db: Executor,
  cardNo: string,
  from: string,
  to: string,
): Promise<boolean> {
  const r =
    await sql`update cards set password = ${to} where card_no = ${cardNo} and password = ${from}`.execute(db);
  return Number(r.numAffectedRows ?? 0) === 1;
}

/**
 * Stored request answers not starting with `keep` that need sealing: plaintext ones only of
 * `plainMethod` (the answers that carry a password), sealed ones of any method.
 */
export function findRequestBodiesNotStartingWith(
  db: Executor,
  keep: string,
  plainMethod: string,
  after: { partnerId: string; reqId: string },
  limit: number,
): Promise<{ partner_id: string; req_id: string; body: string }[]> {
  return sql<{
    partner_id: string;
    req_id: string;
    body: string;
  }>`select partner_id, req_id, body from requests
    where body is not null and ${prefixIsNot('body', keep)}
      and (method = ${plainMethod} or substr(body, 1, 3) = 'v1:')
      and (partner_id > ${after.partnerId} or (partner_id = ${after.partnerId} and req_id > ${after.reqId}))
    order by partner_id, req_id limit ${limit}`
    .execute(db)
    .then((r) => r.rows);
}

export async function replaceRequestBody(
  db: Executor,
  key: { partnerId: string; reqId: string },
  from: string,
  to: string,
): Promise<boolean> {
  const r = await sql`update requests set body = ${to}
    where partner_id = ${key.partnerId} and req_id = ${key.reqId} and body = ${from}`.execute(db);
  return Number(r.numAffectedRows ?? 0) === 1;
}

/** Queued SMS texts not starting with `keep`, with their card's stored password. */
export function findQueuedSmsTextsNotStartingWith(
  db: Executor,
  keep: string,
  afterId: string,
  limit: number,
): Promise<{ id: string; text: string; password: string | null }[]> {
  return sql<{ id: string; text: string; password: string | null }>`select s.id, s.text, c.password
    from sms_messages s left join cards c on c.card_no = s.card_no
    where s.status = 'queued' and ${prefixIsNot('s.text', keep)} and s.id > ${afterId}
    order by s.id limit ${limit}`
    .execute(db)
    .then((r) => r.rows);
}

/** Replaces the text of a message that is still queued and still holds `from`. */
export async function replaceQueuedSmsText(
  db: Executor,
  id: string,
  from: string,
  to: string,
): Promise<boolean> {
  const r = await sql`update sms_messages set text = ${to}
    where id = ${id} and text = ${from} and status = 'queued'`.execute(db);
  return Number(r.numAffectedRows ?? 0) === 1;
}
