import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/db/database.js';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { SecretBox } from '../src/domain/secret-box.js';
import { resealStoredSecrets } from '../src/domain/secrets-at-rest.js';
import { fileSender } from '../src/workers/sms-senders.js';
import { createPgDatabase } from './support/engines.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const TZ = 'Asia/Shanghai';
const MASK = '******';

interface Target {
  name: 'sqlite' | 'postgres';
  /** A fresh database; for SQLite a file in `dir`. */
  open(dir: string): Promise<Db>;
}

const drops: (() => Promise<void>)[] = [];
const targets: Target[] = [
  { name: 'sqlite', open: (dir) => openDatabase({ sqlitePath: path.join(dir, 'movticket.sqlite') }) },
];
if (process.env.TEST_DATABASE_URL) {
  targets.push({
    name: 'postgres',
    open: async () => {
      const { url, drop } = await createPgDatabase();
      drops.push(drop);
      return openDatabase({ url, poolSize: 4 });
    },
  });
}

const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-secrets-'));
  drops.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

afterAll(async () => {
  await Promise.all(drops.map((d) => d()));
});

/** The passwords that stand on their own in `text` (an 8-digit run inside a longer number is chance). */
function leaked(text: string, passwords: Iterable<string>): string[] {
  return [...passwords].filter((p) => new RegExp(`(?<![0-9])${p}(?![0-9])`).test(text));
}

/** Every row of every table, as JSON text: what a dump or a copied database shows. */
async function everyRow(db: Db): Promise<string> {
  const tables =
    db.engine === 'sqlite'
      ? await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db.kysely)
      : await sql<{ name: string }>`select table_name as name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db.kysely);
  const parts: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db.kysely);
    parts.push(`${name}: ${JSON.stringify(rows.rows)}`);
  }
  return parts.join('\n');
}

/** The bytes of the SQLite database and its WAL and shared-memory files, as one latin1 string. */
function rawFiles(dir: string): string {
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('movticket.sqlite'))
    .map((f) => fs.readFileSync(path.join(dir, f)).toString('latin1'))
    .join('\n');
}

/** Buys and pays a card; returns its number, password and the req_id of the payment. */
async function paidCard(t: TestApp, target: { cinemaId: string } | { kindId: string }, count = 1) {
  const bought =
    'cinemaId' in target
      ? await t.client.buyByCinema({ cinemaId: target.cinemaId, count })
      : await t.client.buyByKind({ kindId: target.kindId, count });
  const reqId = nextReqId();
  const paid = await t.client.payByCard({ cardNo: bought.card.card_no, mobile: MOBILE }, { reqId });
  return { cardNo: paid.card.card_no, password: paid.card.password, reqId };
}

const staff = { userId: 'u1', role: 'cinema' as const, cinemaId: '1001', username: 'staff' };

for (const target of targets) {
  describe(`card passwords at rest (${target.name})`, () => {
    it('keeps every password out of the stored data, while answers, SMS, resends and redemption still show or take it', async () => {
      const dir = tempDir();
      const secrets = SecretBox.generate();
      const t = await makeTestApp(await target.open(dir), { secrets, config: { smsMaxAttempts: 1 } });
      const passwords = new Set<string>();
      try {
        // Delivered, resent and delivered again, failed for good, and still queued.
        const delivered = await paidCard(t, { cinemaId: '1001' }, 2);
        const resent = await paidCard(t, { kindId: 'K2D' });
        expect(await t.app.outbox.runOnce()).toBe(2);
        await t.client.resendSms({ cardNo: resent.cardNo, mobile: '15987654321' });
        expect(await t.app.outbox.runOnce()).toBe(1);
        const failed = await paidCard(t, { cinemaId: '1002' });
        t.sms.failing = true;
        expect(await t.app.outbox.runOnce()).toBe(1);
        t.sms.failing = false;
        const queued = await paidCard(t, { cinemaId: '1003' });
        for (const c of [delivered, resent, failed, queued]) passwords.add(c.password);
        expect(passwords.size).toBe(4);

        // The SMS that went out carried the password; the resend was built from the card.
        const texts = t.sms.sent.map((m) => m.text);
        expect(texts).toHaveLength(3);
        expect(texts.filter((text) => text.includes(`密码${delivered.password}`))).toHaveLength(1);
        expect(texts.filter((text) => text.includes(`密码${resent.password}`))).toHaveLength(2);
        expect(texts[2]).toContain(`密码${resent.password}`);
        expect(t.sms.sent[2]!.mobile).toBe('15987654321');

        // A replayed payment answers the stored answer: the same password.
        const again = await t.client.payByCard(
          { cardNo: delivered.cardNo, mobile: MOBILE },
          { reqId: delivered.reqId },
        );
        expect(again.card.password).toBe(delivered.password);

        // Staff redeem with the password; a wrong one is refused.
        const redemption = new RedemptionService({ db: t.db, clock: t.clock, timeZone: TZ, secrets });
        await expect(redemption.redeem(staff, delivered.cardNo, '00000000', 1)).rejects.toMatchObject({
          code: 'wrong_password',
        });
        expect((await redemption.redeem(staff, delivered.cardNo, delivered.password, 1)).used_count).toBe(1);

        // What is stored: sealed passwords and answers, masked delivered texts, a sealed queued text.
        const cards = await t.db.kysely.selectFrom('cards').select(['card_no', 'password']).execute();
        for (const c of cards.filter((r) => r.password !== null)) {
          expect(c.password).toMatch(/^v1:/);
        }
        const pays = await t.db.kysely
          .selectFrom('requests')
          .select('body')
          .where('method', '=', 'payByCard')
          .execute();
        expect(pays).toHaveLength(4);
        for (const r of pays) expect(r.body).toMatch(/^v1:/);
        // A buy's answer holds no password: kept as it is, with no sealing on the buy path.
        const buys = await t.db.kysely
          .selectFrom('requests')
          .select('body')
          .where('method', 'in', ['buyByCinema', 'buyByKind'])
          .execute();
        expect(buys.length).toBeGreaterThan(0);
        for (const r of buys) expect(JSON.parse(r.body!)).toHaveProperty('card');
        const sms = await t.db.kysely
          .selectFrom('sms_messages')
          .select(['card_no', 'status', 'text'])
          .orderBy('created_at')
          .execute();
        const settled = sms.filter((m) => m.status !== 'queued');
        expect(settled.map((m) => m.status).sort()).toEqual(['failed', 'sent', 'sent', 'sent']);
        for (const m of settled) expect(m.text).toContain(`密码${MASK}`);
        const waiting = sms.filter((m) => m.status === 'queued');
        expect(waiting.map((m) => m.card_no)).toEqual([queued.cardNo]);
        expect(waiting[0]!.text).toMatch(/^v1:/);

        // Neither the tables nor (SQLite) the raw database, WAL and shm files hold a password,
        // while the same search does find what is stored in the clear (a card number).
        const rows = await everyRow(t.db);
        expect(leaked(rows, passwords)).toEqual([]);
        expect(leaked(rows, [queued.cardNo])).toEqual([queued.cardNo]);
        if (target.name === 'sqlite') {
          expect(leaked(rawFiles(dir), passwords)).toEqual([]);
          expect(leaked(rawFiles(dir), [queued.cardNo])).toEqual([queued.cardNo]);
        }

        // The queued message still goes out with its password once the gateway takes it.
        expect(await t.app.outbox.runOnce()).toBe(1);
        expect(t.sms.sent.at(-1)!.text).toContain(`密码${queued.password}`);
      } finally {
        await t.close();
      }
      if (target.name === 'sqlite') expect(leaked(rawFiles(dir), passwords)).toEqual([]);
    });

    it('re-seals every stored secret under the newest key, after which the old key can be dropped', async () => {
      const dir = tempDir();
      const oldKey = randomBytes(32);
      const oldBox = SecretBox.fromKeys([oldKey]);
      const db = await target.open(dir);
      const t = await makeTestApp(db, { secrets: oldBox });
      const a = await paidCard(t, { cinemaId: '1001' });
      const b = await paidCard(t, { kindId: 'K3D' });
      await t.app.outbox.runOnce();
      const queued = await paidCard(t, { cinemaId: '1002' });
      await t.app.close();

      // The three payments' answers are sealed (a buy's answer holds no password).
      // The operator adds a new key in front of the old one, restarts, and rotates.
      const newKey = randomBytes(32);
      const both = SecretBox.fromKeys([newKey, oldKey]);
      const counts = await resealStoredSecrets(db, both);
      expect(counts).toEqual({ cards: 3, requests: 3, sms: 1 });
      expect(await resealStoredSecrets(db, both)).toEqual({ cards: 0, requests: 0, sms: 0 });

      const stored = [
        ...(await db.kysely
          .selectFrom('cards')
          .select('password as v')
          .where('password', 'is not', null)
          .execute()),
        ...(await db.kysely
          .selectFrom('requests')
          .select('body as v')
          .where('method', '=', 'payByCard')
          .execute()),
        ...(await db.kysely
          .selectFrom('sms_messages')
          .select('text as v')
          .where('status', '=', 'queued')
          .execute()),
      ];
      expect(stored).toHaveLength(7);
      for (const { v } of stored) expect(v).toMatch(new RegExp(`^v1:${both.currentKeyId}:`));

      // Only the new key now: replays, redemption, resends and the queued message all still work.
      const onlyNew = SecretBox.fromKeys([newKey]);
      const t2 = await makeTestApp(db, { secrets: onlyNew, seed: false });
      try {
        const replay = await t2.client.payByCard({ cardNo: b.cardNo, mobile: MOBILE }, { reqId: b.reqId });
        expect(replay.card.password).toBe(b.password);
        const redemption = new RedemptionService({ db, clock: t2.clock, timeZone: TZ, secrets: onlyNew });
        await redemption.redeem(staff, a.cardNo, a.password, 1);
        await t2.client.resendSms({ cardNo: b.cardNo });
        expect(await t2.app.outbox.runOnce()).toBe(2);
        const texts = t2.sms.sent.map((m) => m.text).join('\n');
        expect(texts).toContain(`密码${queued.password}`);
        expect(texts).toContain(`密码${b.password}`);
      } finally {
        await t2.close();
      }
    });

    it('retries a queued SMS sealed by a key this process lacks, naming the key, and keeps it sealed', async () => {
      const other = SecretBox.generate();
      const t = await makeTestApp(await target.open(tempDir()), {
        secrets: other,
        config: { smsMaxAttempts: 2 },
      });
      const card = await paidCard(t, { cinemaId: '1001' });
      await t.app.close();
      const t2 = await makeTestApp(t.db, { seed: false, config: { smsMaxAttempts: 2 } });
      try {
        expect(await t2.app.outbox.runOnce()).toBe(1);
        t2.clock.advance(3_600_000);
        expect(await t2.app.outbox.runOnce()).toBe(1);
        expect(t2.sms.sent).toEqual([]);
        const [m] = await t2.db.kysely.selectFrom('sms_messages').selectAll().execute();
        expect(m).toMatchObject({ status: 'failed', attempts: 2 });
        expect(m!.last_error).toContain(
          `sealed with key ${other.currentKeyId}, which is not in the key file`,
        );
        expect(m!.last_error).not.toContain(card.password);
        expect(other.open(m!.text)).toContain(`密码${card.password}`);
      } finally {
        await t2.close();
      }
    });
  });
}

describe('files that hold secrets are private to the owner', () => {
  const mode = (p: string) => fs.statSync(p).mode & 0o777;

  it('creates the data directory 0700 and the SQLite database, WAL and shm files 0600', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const file = path.join(dataDir, 'movticket.sqlite');
    const warnings: string[] = [];
    const db = await openDatabase({ sqlitePath: file, warn: (m) => warnings.push(m) });
    try {
      await makeTestApp(db).then((t) =>
        t.client.buyByCinema({ cinemaId: '1001', count: 1 }).then(() => t.app.close()),
      );
      expect(mode(dataDir)).toBe(0o700);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect([f, mode(f)]).toEqual([f, 0o600]);
      expect(warnings).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('tightens a data directory and database files left open to others, and warns', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const file = path.join(dataDir, 'movticket.sqlite');
    await (await openDatabase({ sqlitePath: file, warn: () => {} })).close();
    fs.chmodSync(dataDir, 0o755);
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(`${file}-wal`, '', { mode: 0o664 });
    fs.chmodSync(`${file}-wal`, 0o664);
    const warnings: string[] = [];
    const db = await openDatabase({ sqlitePath: file, warn: (m) => warnings.push(m) });
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(file)).toBe(0o600);
      expect(mode(`${file}-wal`)).toBe(0o600);
      expect(warnings).toEqual([
        `directory ${dataDir} was open to other users (mode 0755); changed to 0700`,
        `file ${file} was open to other users (mode 0644); changed to 0600`,
        `file ${file}-wal was open to other users (mode 0664); changed to 0600`,
      ]);
    } finally {
      await db.close();
    }
  });

  it('writes the file SMS sender output 0600, tightening an existing file', async () => {
    const dir = tempDir();
    const fresh = path.join(dir, 'sms.jsonl');
    await fileSender(fresh).send({ id: 'a', mobile: MOBILE, text: '密码12345678' });
    expect(mode(fresh)).toBe(0o600);
    const loose = path.join(dir, 'old.jsonl');
    fs.writeFileSync(loose, '');
    fs.chmodSync(loose, 0o644);
    await fileSender(loose).send({ id: 'b', mobile: MOBILE, text: '密码12345678' });
    expect(mode(loose)).toBe(0o600);
    expect(fs.readFileSync(loose, 'utf8')).toContain('"id":"b"');
  });
});
