import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/db/database.js';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { dayOf } from '../src/domain/dates.js';
import { SecretBox } from '../src/domain/secret-box.js';
import { createKeyFile, readKeyFile } from '../src/secret-key-file.js';
import { createPgDatabase } from './support/engines.js';
import { makeTestApp } from './support/harness.js';
import { CLI_ENTRY } from './support/build-dist.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TZ = 'Asia/Shanghai';
const MOBILE = '13812345678';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Target {
  name: 'sqlite' | 'postgres';
  /** Opens the database the CLI will use and returns the CLI's environment for it. */
  open(dir: string): Promise<{ db: Db; env: Record<string, string>; drop: () => Promise<void> }>;
}

const targets: Target[] = [
  {
    name: 'sqlite',
    open: async (dir) => ({
      db: await openDatabase({ sqlitePath: path.join(dir, 'movticket.sqlite') }),
      env: { DATABASE_URL: '' },
      drop: async () => {},
    }),
  },
];
if (process.env.TEST_DATABASE_URL) {
  targets.push({
    name: 'postgres',
    open: async () => {
      const { url, drop } = await createPgDatabase();
      return { db: await openDatabase({ url }), env: { DATABASE_URL: url }, drop };
    },
  });
}

for (const target of targets) {
  // Each test starts the CLI several times; a busy machine must slow it, never fail it.
  describe(`movticket card commands (${target.name})`, { timeout: 240_000 }, () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let drop: () => Promise<void> = async () => {};
    let reopen: () => Promise<Db>;
    let day: string;
    let keyFile: string;
    const cards: Record<string, { card_no: string; password: string }> = {};

    const cli = (...args: string[]): Promise<Run> =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [CLI_ENTRY, ...args],
          { cwd: ROOT, env, timeout: 120_000 },
          (err, stdout, stderr) => {
            const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      });

    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'movticket-cli-'));
      const opened = await target.open(dir);
      drop = opened.drop;
      keyFile = path.join(dir, 'movticket.key');
      createKeyFile(keyFile);
      env = {
        ...process.env,
        MOVTICKET_DATA_DIR: dir,
        MOVTICKET_SECRET_KEY_FILE: keyFile,
        USER: 'tester',
        LOG_LEVEL: 'silent',
        ...opened.env,
      };
      reopen = () =>
        openDatabase(
          opened.env.DATABASE_URL
            ? { url: opened.env.DATABASE_URL }
            : { sqlitePath: path.join(dir, 'movticket.sqlite') },
        );

      // Cards made through the partner API, on the clock of now (the CLI uses the system clock).
      const t = await makeTestApp(opened.db, { secrets: readKeyFile(keyFile) });
      const buy = async (cinemaId: string, count: number, orderNo?: string) => {
        const { card } = await t.client.buyByCinema({ cinemaId, count, orderNo });
        const paid = await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE });
        return { card_no: card.card_no, password: paid.card.password };
      };
      cards.shown = await buy('1001', 2, 'CLI-A');
      cards.toBan = await buy('1002', 1, 'CLI-B');
      cards.redeemed = await buy('1001', 3, 'CLI-C');
      const unpaid = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      cards.unpaid = { card_no: unpaid.card.card_no, password: '' };
      await t.app.outbox.runOnce();
      await new RedemptionService({ db: t.db, clock: t.clock, timeZone: TZ, secrets: t.secrets }).redeem(
        { userId: 'u1', role: 'cinema', cinemaId: '1001', username: 'staff' },
        cards.redeemed.card_no,
        cards.redeemed.password,
        1,
      );
      day = dayOf(t.clock.now(), TZ);
      await t.close();
    });

    afterAll(async () => {
      await drop();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('shows a card with its ledger, SMS and redemptions, as text and as JSON', async () => {
      const [text, json] = await Promise.all([
        cli('card', 'show', cards.redeemed!.card_no),
        cli('card', 'show', cards.redeemed!.card_no, '--json'),
      ]);
      expect(text.stderr).toBe('');
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(`card ${cards.redeemed!.card_no}  active`);
      expect(text.stdout).toContain('tickets 3, used 1, remaining 2');
      expect(text.stdout).toMatch(/ledger:[\s\S]*activated[\s\S]*sms_sent[\s\S]*redeemed/);
      expect(text.stdout).toMatch(/redemptions:[\s\S]*1001\s+1\s+u1/);
      expect(text.stdout).not.toContain(cards.redeemed!.password);

      expect(json.code).toBe(0);
      const detail = JSON.parse(json.stdout) as {
        card: Record<string, unknown>;
        events: { type: string; data: Record<string, unknown> }[];
        sms: { status: string; mobile: string }[];
        redemptions: { count: number }[];
      };
      expect(detail.card).toMatchObject({
        card_no: cards.redeemed!.card_no,
        status: 'active',
        order_no: 'CLI-C',
        used_count: 1,
        total_yuan: '105.00',
        price_yuan: '35.00',
      });
      expect(detail.card.paid_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(detail.events.map((e) => e.type)).toEqual([
        'created',
        'activated',
        'sms_queued',
        'sms_sent',
        'redeemed',
      ]);
      expect(detail.events[0]!.data.total_yuan).toBe('105.00');
      expect(detail.sms).toEqual([expect.objectContaining({ status: 'sent', mobile: MOBILE })]);
      expect(detail.redemptions).toEqual([expect.objectContaining({ count: 1 })]);
      expect(json.stdout).not.toContain(cards.redeemed!.password);
    });

    it('searches cards by partner, status, order and mobile', async () => {
      const [active, byOrder, text] = await Promise.all([
        cli('card', 'search', '--partner', 'CS000001', '--status', 'active', '--since', day, '--json'),
        cli('card', 'search', '--order', 'CLI-B', '--mobile', MOBILE, '--json'),
        cli('card', 'search', '--status', 'inactive'),
      ]);
      const nos = (r: Run) =>
        (JSON.parse(r.stdout) as { items: { card_no: string }[] }).items.map((c) => c.card_no);
      expect(active.code).toBe(0);
      expect(nos(active).sort()).toEqual(
        [cards.shown!, cards.toBan!, cards.redeemed!].map((c) => c.card_no).sort(),
      );
      expect(nos(byOrder)).toEqual([cards.toBan!.card_no]);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(cards.unpaid!.card_no);
      expect(text.stdout).toContain('1-1 of 1 cards');

      // The last 4 digits of the mobile and a cinema, as a desk asks; the cinema's name shows.
      const desk = await cli('card', 'search', '--mobile', MOBILE.slice(-4), '--cinema', '1001');
      expect(desk.code).toBe(0);
      expect(desk.stdout).toContain(cards.shown!.card_no);
      expect(desk.stdout).toContain(cards.redeemed!.card_no);
      expect(desk.stdout).not.toContain(cards.toBan!.card_no);
      expect(desk.stdout).toContain('影城1001');
      expect(desk.stdout).toContain('1-2 of 2 cards');
    });

    it('bans a card as the CLI user, and refuses with one line on stderr when the card forbids it', async () => {
      const ok = await cli('card', 'ban', cards.toBan!.card_no, '--reason', 'customer refund');
      expect(ok).toMatchObject({ code: 0, stderr: '' });
      expect(ok.stdout).toContain(`banned card ${cards.toBan!.card_no}: customer refund`);

      const refused = await cli('card', 'ban', cards.redeemed!.card_no, '--reason', 'fraud');
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(
        /^movticket: card \d{16} is active with 1 tickets redeemed; cannot ban\n$/,
      );

      const db = await reopen();
      try {
        const card = await db.kysely
          .selectFrom('cards')
          .selectAll()
          .where('card_no', '=', cards.toBan!.card_no)
          .executeTakeFirstOrThrow();
        expect(card).toMatchObject({ status: 'banned', ban_reason: 'customer refund' });
        const event = await db.kysely
          .selectFrom('card_events')
          .selectAll()
          .where('card_no', '=', cards.toBan!.card_no)
          .where('type', '=', 'banned')
          .executeTakeFirstOrThrow();
        expect(event.actor).toBe('cli:tester');
        const audit = await db.kysely
          .selectFrom('audit_log')
          .selectAll()
          .where('entity_id', '=', cards.toBan!.card_no)
          .execute();
        expect(audit.map((a) => [a.actor, a.action])).toEqual([['cli:tester', 'card.ban']]);
      } finally {
        await db.close();
      }
    });

    it('freezes and unfreezes a partly redeemed card and unlocks its password, through the same commands', async () => {
      const no = cards.redeemed!.card_no;
      const frozen = await cli('card', 'freeze', no, '--reason', 'SMS stolen');
      expect(frozen).toMatchObject({ code: 0, stderr: '' });
      expect(frozen.stdout).toMatch(
        new RegExp(`^freeze: done; card ${no} active, frozen since .*, 0 wrong passwords count\n$`),
      );
      expect((await cli('card', 'freeze', no, '--reason', 'again')).stdout).toContain(
        'freeze: nothing to change',
      );
      const shown = await cli('card', 'show', no);
      expect(shown.stdout).toContain('frozen ');
      expect(shown.stdout).toContain('SMS stolen');
      expect(shown.stdout).toContain('password: 0 wrong, 5 tries left');
      const thawed = await cli('card', 'unfreeze', no, '--reason', 'customer verified');
      expect(thawed.stdout).toContain(`unfreeze: done; card ${no} active, not frozen`);
      expect((await cli('card', 'unlock', no, '--reason', 'checked')).stdout).toContain(
        'unlock: nothing to change',
      );
      const noReason = await cli('card', 'freeze', no, '--reason', ' ');
      expect(noReason.code).toBe(1);
      expect(noReason.stderr).toBe('movticket: a reason of 1 to 100 characters is required\n');

      const db = await reopen();
      try {
        const events = await db.kysely
          .selectFrom('card_events')
          .select(['type', 'actor'])
          .where('card_no', '=', no)
          .where('type', 'in', ['frozen', 'unfrozen'])
          .orderBy('seq')
          .execute();
        expect(events).toEqual([
          { type: 'frozen', actor: 'cli:tester' },
          { type: 'unfrozen', actor: 'cli:tester' },
        ]);
        const audit = await db.kysely
          .selectFrom('audit_log')
          .select(['actor', 'action'])
          .where('entity_id', '=', no)
          .orderBy('at')
          .orderBy('audit_id')
          .execute();
        expect(audit).toEqual([
          { actor: 'cli:tester', action: 'card.freeze' },
          { actor: 'cli:tester', action: 'card.unfreeze' },
        ]);
      } finally {
        await db.close();
      }
    });

    it('resends an SMS to a new number only with --reason and --yes, audited, and lists the queued messages', async () => {
      const no = cards.shown!.card_no;
      const [bare, noReason] = await Promise.all([
        cli('card', 'resend', no, '--mobile', '13900001111'),
        cli('card', 'resend', no, '--mobile', '13900001111', '--yes'),
      ]);
      expect(bare.code).toBe(1);
      expect(bare.stderr).toContain('needs --yes (and --reason TEXT)');
      expect(noReason.code).toBe(1);
      expect(noReason.stderr).toContain('needs --reason TEXT (1 to 200 characters)');

      const resend = await cli(
        'card',
        'resend',
        no,
        '--mobile',
        '13900001111',
        '--reason',
        'lost phone',
        '--yes',
      );
      expect(resend.code).toBe(0);
      expect(resend.stdout).toMatch(/^queued SMS [0-9a-f-]{36} for card \d{16} to 139\*\*\*\*1111\n$/);
      const list = await cli('sms', 'list', '--status', 'queued', '--json');
      const page = JSON.parse(list.stdout) as { total: number; items: Record<string, unknown>[] };
      expect(page.total).toBe(1);
      expect(page.items[0]).toMatchObject({
        card_no: cards.shown!.card_no,
        mobile: '13900001111',
        reason: 'resend',
        status: 'queued',
      });
      expect(page.items[0]).not.toHaveProperty('text');
      const db = await reopen();
      try {
        const audit = await db.kysely
          .selectFrom('audit_log')
          .selectAll()
          .where('entity_id', '=', no)
          .execute();
        expect(audit.map((a) => [a.actor, a.action, JSON.parse(a.after ?? '{}') as unknown])).toEqual([
          [
            'cli:tester',
            'card.resend_sms_new_mobile',
            { mobile: '139****1111', message_id: page.items[0]!.id, reason: 'lost phone' },
          ],
        ]);
      } finally {
        await db.close();
      }
    }, 90_000);

    it("writes the day's statement as CSV to a file or stdout, and prints the dashboard", async () => {
      const file = path.join(dir, 'statement.csv');
      // After the ban above: 3 activations today, 1 void.
      const [toFile, toStdout, dash, zh] = await Promise.all([
        cli('statement', 'CS000001', day, '--out', file, '--lang', 'en'),
        cli('statement', 'CS000001', day, '--lang', 'en'),
        cli('report', 'dashboard', '--since', day, '--until', day, '--json'),
        cli('statement', 'all', day),
      ]);
      expect(toFile.code).toBe(0);
      // For people (the default): Chinese headers, card numbers as ="..." text, every partner.
      expect(zh.code).toBe(0);
      expect(zh.stdout.startsWith('\uFEFF类型,时间,卡号,')).toBe(true);
      expect(zh.stdout).toContain('冲销,');
      expect(zh.stdout).toMatch(/"="{2}[0-9]{16}"{3}/);
      expect(toFile.stdout).toBe(`wrote ${file}: activations 3 (213.00), voids 1 (-38.00), net 175.00\n`);
      const csv = await fs.readFile(file, 'utf8');
      expect(toStdout.stdout).toBe(csv);
      expect(csv.startsWith('\uFEFFtype,time,card_no,')).toBe(true);
      expect(csv.endsWith('3,213.00,1,-38.00,175.00\r\n')).toBe(true);
      expect(csv).toContain(`void,`);
      expect(csv).not.toContain(cards.unpaid!.card_no);

      expect(dash.code).toBe(0);
      const d = JSON.parse(dash.stdout) as { totals: Record<string, unknown>; sms: Record<string, unknown> };
      expect(d.totals).toMatchObject({
        issued: 4,
        activated: 3,
        activated_yuan: '213.00',
        voided: 1,
        voided_yuan: '38.00',
        redeemed_tickets: 1,
      });
      expect(d.sms).toMatchObject({ sent: 3, queued: 1 });
    });

    it('refuses card commands and serve without the key file, saying how to make one', async () => {
      const noKey = { ...env, MOVTICKET_SECRET_KEY_FILE: '', PORT: '0' };
      const run = (...args: string[]): Promise<Run> =>
        new Promise((resolve) => {
          execFile(
            process.execPath,
            ['--import', 'tsx', 'src/cli/main.ts', ...args],
            { cwd: ROOT, env: noKey, timeout: 30_000 },
            (err, stdout, stderr) =>
              resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
          );
        });
      const [show, serve] = await Promise.all([run('card', 'show', cards.shown!.card_no), run('serve')]);
      expect(show.code).toBe(1);
      expect(serve.code).toBe(2);
      for (const r of [show, serve]) {
        expect(r.stderr).toMatch(
          /^movticket: MOVTICKET_SECRET_KEY_FILE is not set: .*secret-key generate --out/,
        );
      }
    }, 120_000);

    it('answers bad input with one line on stderr and exit code 1', async () => {
      const runs = await Promise.all([
        cli('card', 'show', '12345'),
        cli('card', 'show', '1234567890123452'),
        cli('statement', 'CS000001', '2025-13-01'),
      ]);
      expect(runs.map((r) => r.code)).toEqual([1, 1, 1]);
      expect(runs.map((r) => r.stderr)).toEqual([
        'movticket: card_no must be 16 digits\n',
        'movticket: card 1234567890123452 not found\n',
        'movticket: invalid date 2025-13-01: expected YYYY-MM-DD\n',
      ]);
    });

    it('rotates the key: adds a newer one, re-seals everything under it, and works once the old one is gone', async () => {
      const oldId = readKeyFile(keyFile).currentKeyId;
      const add = await cli('secret-key', 'add');
      expect(add.code).toBe(0);
      const both = readKeyFile(keyFile);
      expect(both.keyIds).toEqual([expect.any(String), oldId]);
      const newId = both.currentKeyId;
      expect(add.stdout).toContain(`added key ${newId} in front of ${keyFile} (2 keys)`);
      expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);

      const rotate = await cli('secret-key', 'rotate');
      expect(rotate.stderr).toBe('');
      expect(rotate.stdout).toMatch(
        new RegExp(`^re-sealed 3 card passwords, \\d+ stored answers and 1 queued SMS under key ${newId}\n`),
      );
      expect(rotate.stdout).toContain(`no longer needs key ${oldId}`);
      expect((await cli('secret-key', 'rotate')).stdout).toMatch(
        /^re-sealed 0 card passwords, 0 stored answers and 0 queued SMS/,
      );

      // Drop the old key: resending builds the SMS from the card, staff still redeem with the password.
      const text = await fs.readFile(keyFile, 'utf8');
      await fs.writeFile(keyFile, text.split('\n').slice(0, 2).join('\n') + '\n');
      const onlyNew = readKeyFile(keyFile);
      expect(onlyNew.keyIds).toEqual([newId]);
      const resend = await cli('card', 'resend', cards.shown!.card_no);
      expect(resend.stderr).toBe('');
      expect(resend.code).toBe(0);
      const db = await reopen();
      try {
        const stored = await db.kysely
          .selectFrom('cards')
          .select('password')
          .where('password', 'is not', null)
          .execute();
        for (const c of stored) expect(c.password).toMatch(new RegExp(`^v1:${newId}:`));
        const r = await new RedemptionService({
          db,
          clock: { now: () => Date.now() },
          timeZone: TZ,
          secrets: onlyNew,
        }).redeem(
          { userId: 'u1', role: 'cinema', cinemaId: '1001', username: 'staff' },
          cards.shown!.card_no,
          cards.shown!.password,
          1,
        );
        expect(r.used_count).toBe(1);
      } finally {
        await db.close();
      }
    }, 120_000);

    it('generates a key to stdout or into a new owner-only file', async () => {
      const printed = await cli('secret-key', 'generate');
      expect(printed.code).toBe(0);
      expect(SecretBox.fromKeyFile(printed.stdout).keyIds).toHaveLength(1);
      const out = path.join(dir, 'new.key');
      const written = await cli('secret-key', 'generate', '--out', out);
      expect(written.stdout).toBe(
        `wrote ${out} with key ${readKeyFile(out).currentKeyId}; set MOVTICKET_SECRET_KEY_FILE=${out}\n`,
      );
      expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
      const again = await cli('secret-key', 'generate', '--out', out);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already exists');
    }, 120_000);
  });
}
