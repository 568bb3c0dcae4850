import { getMeta, setMeta } from '../db/catalog.repository.js';
import type { Db } from '../db/database.js';
import {
  findCardPasswordsNotStartingWith,
  findQueuedSmsTextsNotStartingWith,
  findRequestBodiesNotStartingWith,
  replaceCardPassword,
  replaceQueuedSmsText,
  replaceRequestBody,
} from '../db/secret.repository.js';
import { inTransaction } from '../db/tx.js';
import { isSealed, type SecretBox } from './secret-box.js';
import { PASSWORD_MASK, sealSmsText } from './sms-template.js';

/** How many stored values a pass sealed, per table. */
export interface SealCounts {
  cards: number;
  requests: number;
  sms: number;
}

/** Set to `pending` by migration 007; `done` once the plaintext of earlier versions is sealed. */
export const LEGACY_SEAL_FLAG = 'secrets_at_rest';
const BATCH = 500;
/** The only answer that carries a password in the clear (before sealing began). */
const PASSWORD_ANSWER = 'payByCard';

/**
 * Seals the card passwords, payByCard answers and queued SMS texts that versions before
 * migration 007 stored in plaintext. Runs once per database (delivered SMS were masked by the
 * migration itself); idempotent, so concurrent starts are harmless. Null when already done.
 */
export async function sealLegacySecrets(db: Db, box: SecretBox): Promise<SealCounts | null> {
  if ((await getMeta(db.kysely, LEGACY_SEAL_FLAG)) !== 'pending') return null;
  const counts = await sealStored(db, box, 'v1:');
  await setMeta(db.kysely, LEGACY_SEAL_FLAG, 'done');
  return counts;
}

/**
 * Re-seals every stored secret that is not sealed by the box's current key: values of older keys
 * and any plaintext left. Afterwards a key no longer in use may be dropped from the key file
 * (once no backup that needs it is kept).
 */
export function resealStoredSecrets(db: Db, box: SecretBox): Promise<SealCounts> {
  return sealStored(db, box, `v1:${box.currentKeyId}:`);
}

async function sealStored(db: Db, box: SecretBox, keep: string): Promise<SealCounts> {
  const counts: SealCounts = { cards: 0, requests: 0, sms: 0 };
  const reseal = (v: string) => box.seal(box.open(v));

  for (let after = ''; ;) {
    const rows = await findCardPasswordsNotStartingWith(db.kysely, keep, after, BATCH);
    if (rows.length === 0) break;
    after = rows.at(-1)!.card_no;
    await inTransaction(db, async (tx) => {
      for (const r of rows)
        if (await replaceCardPassword(tx, r.card_no, r.password, reseal(r.password))) counts.cards++;
    });
  }

  for (let after = { partnerId: '', reqId: '' }; ;) {
    const rows = await findRequestBodiesNotStartingWith(db.kysely, keep, PASSWORD_ANSWER, after, BATCH);
    if (rows.length === 0) break;
    const last = rows.at(-1)!;
    after = { partnerId: last.partner_id, reqId: last.req_id };
    await inTransaction(db, async (tx) => {
      for (const r of rows) {
        const key = { partnerId: r.partner_id, reqId: r.req_id };
        if (await replaceRequestBody(tx, key, r.body, reseal(r.body))) counts.requests++;
      }
    });
  }

  for (let after = ''; ;) {
    const rows = await findQueuedSmsTextsNotStartingWith(db.kysely, keep, after, BATCH);
    if (rows.length === 0) break;
    after = rows.at(-1)!.id;
    await inTransaction(db, async (tx) => {
      for (const r of rows) {
        let sealed: string;
        if (isSealed(r.text)) sealed = reseal(r.text);
        else {
          // Written before sealing began: mask the card's password for when it is settled.
          const password = r.password === null ? '' : box.open(r.password);
          const masked = password === '' ? r.text : r.text.split(password).join(PASSWORD_MASK);
          sealed = sealSmsText(box, r.text, masked);
        }
        if (await replaceQueuedSmsText(tx, r.id, r.text, sealed)) counts.sms++;
      }
    });
  }
  return counts;
}
