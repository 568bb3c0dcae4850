import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerAdminCommands } from '../src/cli/commands/index.js';
import { loadConfig } from '../src/config.js';
import { type Db, openDatabase } from '../src/db/database.js';
import { PartnerAdminService } from '../src/domain/admin/partner-admin.service.js';
import { UserService } from '../src/domain/admin/user.service.js';
import { ManualClock, systemClock } from '../src/domain/clock.js';
import { formatYmdHis } from '../src/domain/time.js';
import { CINEMA_CSV_COLUMNS } from '../src/domain/admin/catalog-import.js';
import { createPgDatabase, engines } from './support/engines.js';
import { makeCatalog } from './support/factories.js';
import { CLI_ENTRY } from './support/build-dist.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Settings of the surrounding shell must not leak into the CLI under test.
const NOT_INHERITED = /^(MOVTICKET_.*|DATABASE_URL|PORT|HOST|LOG_LEVEL|USER)$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const admin = { actor: 'cli:setup', role: 'admin' } as const;

/** Runs the real CLI as a child process; stdin is a pipe (never a terminal), closed after `stdin`. */
function movticket(env: Record<string, string>, args: string[], stdin = ''): Promise<Run> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !NOT_INHERITED.test(k)));
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
    cwd: ROOT,
    env: { ...inherited, USER: 'tester', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.end(stdin);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const csvFile = (dir: string, name: string, rows: string[]) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, [CINEMA_CSV_COLUMNS.join(','), ...rows].join('\n') + '\n');
  return file;
};

for (const engine of engines()) {
  // Each test starts the CLI a dozen times; a busy machine must slow it, never fail it.
  describe(`movticket CLI as a process (${engine.name})`, { timeout: 240_000 }, () => {
    let dir: string;
    let env: Record<string, string>;
    let drop: (() => Promise<void>) | undefined;
    let url: string | undefined;
    const openDb = () =>
      openDatabase(url ? { url, poolSize: 2 } : { sqlitePath: path.join(dir, 'movticket.sqlite') });

    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-cli-'));
      env = { MOVTICKET_DATA_DIR: dir };
      url = undefined;
      drop = undefined;
      if (engine.name === 'postgres') {
        ({ url, drop } = await createPgDatabase());
        env.DATABASE_URL = url;
      }
    });
    afterEach(async () => {
      await drop?.();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('creates the first admin from stdin, refuses a password argument, and manages accounts', async () => {
      const created = await movticket(
        env,
        ['user', 'create', 'root', '--role', 'admin', '--password-stdin'],
        'correct horse battery\n',
      );
      expect(created).toMatchObject({ code: 0, stdout: 'created user root (admin)\n' });

      const [asArgument, noPassword, tooShort, lastAdmin] = await Promise.all([
        movticket(env, ['user', 'create', 'bob', '--role', 'operator', '--password', 'hunter2hunter2']),
        movticket(env, ['user', 'create', 'bob', '--role', 'operator']),
        movticket(env, ['user', 'create', 'bob', '--role', 'operator', '--password-stdin'], 'short\n'),
        movticket(env, ['user', 'disable', 'root']),
      ]);
      expect(asArgument).toMatchObject({
        code: 2,
        stdout: '',
        stderr: "movticket: error: unknown option '--password'\n",
      });
      expect(noPassword).toMatchObject({
        code: 2,
        stderr: 'movticket: error: no password: use --password-stdin, or run on a terminal to be prompted\n',
      });
      expect(tooShort).toMatchObject({
        code: 1,
        stderr: 'movticket: password must be at least 10 characters\n',
      });
      expect(lastAdmin.code).toBe(1);
      expect(lastAdmin.stderr).toMatch(/^movticket: user root is the last active admin; .*\n$/);

      const [changed, listed] = await Promise.all([
        movticket(env, ['user', 'password', 'root', '--password-stdin'], 'a brand new secret\r\nignored\n'),
        movticket(env, ['user', 'list', '--json']),
      ]);
      expect(changed).toMatchObject({
        code: 0,
        stdout: 'password of root changed; their sessions were ended\n',
      });
      expect(JSON.parse(listed.stdout)).toEqual([
        expect.objectContaining({ username: 'root', role: 'admin', status: 'active' }),
      ]);
      expect(listed.stdout).not.toMatch(/scrypt|password/i);

      const db = await openDb();
      try {
        const users = new UserService(db, systemClock);
        expect(await users.verifyCredentials('root', 'a brand new secret')).toMatchObject({
          username: 'root',
        });
        expect(await users.verifyCredentials('root', 'correct horse battery')).toBeNull();
        const audit = await db.kysely
          .selectFrom('audit_log')
          .select(['actor', 'action'])
          .orderBy('at')
          .execute();
        expect(audit).toEqual([
          { actor: 'cli:tester', action: 'user.create' },
          { actor: 'cli:tester', action: 'user.password' },
        ]);
      } finally {
        await db.close();
      }
    });

    it('creates a partner and a key shown once, edits, suspends and revokes', async () => {
      const created = await movticket(env, [
        'partner',
        'create',
        '--name',
        '渠道甲',
        '--rate-limit',
        '5',
        '--json',
      ]);
      expect(created.code).toBe(0);
      const partner = JSON.parse(created.stdout) as { partnerId: string; busId: string };
      expect(partner).toMatchObject({
        partnerId: 'MT000001',
        busId: expect.stringMatching(/^[0-9]{7}$/),
        rateLimit: 5,
      });

      // Writes run one at a time: concurrent write transactions from several processes are the
      // database's business, not this test's.
      const [badInterface, key] = await Promise.all([
        movticket(env, ['partner', 'create', '--name', 'X', '--permissions', 'cities,refund']),
        movticket(env, ['key', 'create', 'MT000001', '--mode', 'full']),
      ]);
      expect(badInterface.code).toBe(1);
      expect(badInterface.stderr).toMatch(/^movticket: unknown interface refund; known: cities, /);
      expect(key.code).toBe(0);
      const md5key = /^md5key {2}([0-9a-f]{32})$/m.exec(key.stdout)?.[1];
      expect(key.stdout).toContain('created sec_id k1 (sign mode full) for partner MT000001');
      expect(key.stderr).toMatch(/warning: store this md5key now/);

      const [edited, keys] = await Promise.all([
        movticket(env, [
          'partner',
          'set',
          'MT000001',
          '--ip-allow',
          '10.0.0.1, 10.0.0.2',
          '--name',
          '渠道乙',
        ]),
        movticket(env, ['key', 'list', 'MT000001']),
      ]);
      expect(edited.stdout).toMatch(/^name +渠道乙$/m);
      expect(edited.stdout).toMatch(/^ip_allow +10\.0\.0\.1,10\.0\.0\.2$/m);
      expect(keys.stdout.split('\n')[0]).toMatch(/^SEC_ID +MODE +STATUS +CREATED +REVOKED$/);
      expect(keys.stdout.split('\n')[1]).toMatch(/^k1 +full +active +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(keys.stdout).not.toContain(md5key);

      const [suspended, missing] = await Promise.all([
        movticket(env, ['partner', 'suspend', 'MT000001']),
        movticket(env, ['key', 'revoke', 'MT000009', 'k1']),
      ]);
      expect(suspended.stdout).toBe('partner MT000001 is suspended\n');
      expect(missing).toMatchObject({ code: 1, stderr: 'movticket: partner MT000009 not found\n' });

      const [revoked, list] = await Promise.all([
        movticket(env, ['partner', 'revoke', 'MT000001', 'buyByCinema', 'ban']),
        movticket(env, ['partner', 'list']),
      ]);
      expect(revoked.stdout).toMatch(
        /^partner MT000001 may call: cities,regionsByCity,cinemasByRegion,kinds,/,
      );
      expect(list.stdout).toMatch(/^PARTNER +NAME +BUS_ID +STATUS +KEYS/);
      expect(list.stdout).toMatch(new RegExp(`^MT000001  渠道乙  ${partner.busId}  suspended  1 `, 'm'));

      const keyRevoked = await movticket(env, ['key', 'revoke', 'MT000001', 'k1']);
      expect(keyRevoked.stdout).toBe('revoked sec_id k1 of partner MT000001\n');
      const shown = await movticket(env, ['partner', 'show', 'MT000001', '--json']);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        status: 'suspended',
        ipAllow: ['10.0.0.1', '10.0.0.2'],
        keys: [{ secId: 'k1', signMode: 'full', status: 'revoked' }],
      });
      expect(shown.stdout).not.toContain(md5key);

      const db = await openDb();
      try {
        const row = await db.kysely.selectFrom('security_configs').selectAll().executeTakeFirstOrThrow();
        expect(row.md5key).toBe(md5key);
        const audit = await db.kysely.selectFrom('audit_log').selectAll().execute();
        expect(JSON.stringify(audit)).not.toContain(md5key);
      } finally {
        await db.close();
      }
    });

    it('refuses a callback URL into this host or a private network unless the operator allows it', async () => {
      const setup = await openDb();
      try {
        await new PartnerAdminService(setup, systemClock).create(admin, { name: '渠道甲' });
      } finally {
        await setup.close();
      }
      const set = (url: string, extra: Record<string, string> = {}) =>
        movticket({ ...env, ...extra }, ['partner', 'set', 'MT000001', '--callback-url', url]);
      const [metadata, allowed, badConfig] = await Promise.all([
        set('http://169.254.169.254/latest/meta-data'),
        set('http://10.20.0.7:8080/notify', { MOVTICKET_CALLBACK_ALLOW: 'notify.lan, 10.20.0.0/16' }),
        set('http://10.20.0.7/notify', { MOVTICKET_CALLBACK_ALLOW: '10.20.0.0/99' }),
      ]);
      expect(metadata).toMatchObject({
        code: 1,
        stderr:
          'movticket: callback_url must not point to this host or a private network: 169.254.169.254 is a link-local address (an operator can allow it with MOVTICKET_CALLBACK_ALLOW)\n',
      });
      expect(allowed).toMatchObject({
        code: 0,
        stdout: 'partner MT000001 callback_url: http://10.20.0.7:8080/notify\n',
      });
      expect(badConfig.code).toBe(1);
      expect(badConfig.stderr).toMatch(
        /MOVTICKET_CALLBACK_ALLOW is invalid: 10\.20\.0\.0\/99 has a bad prefix length/,
      );
    });

    it('imports a catalog file with progress and an error report, sets prices and searches the audit log', async () => {
      const setup = await openDb();
      try {
        await makeCatalog(setup);
        await new PartnerAdminService(setup, systemClock).create(admin, { name: '渠道甲' });
      } finally {
        await setup.close();
      }
      const good = csvFile(
        dir,
        'good.csv',
        Array.from(
          { length: 600 },
          (_, i) => `004,广州,gz,004001,天河区,th,GZ${String(i).padStart(3, '0')},影城${i},,,30,60,,1`,
        ),
      );
      const bad = csvFile(dir, 'bad.csv', [
        '004,广州,gz,004001,天河区,th,GZ1,影城,,,30,60,,1',
        '004,广州,gz,004001,天河区,th,GZ2,影城,,,free,60,,1',
      ]);

      const [dry, rejected] = await Promise.all([
        movticket(env, ['catalog', 'import', good, '--dry-run']),
        movticket(env, ['catalog', 'import', bad]),
      ]);
      expect(dry).toMatchObject({
        code: 0,
        stdout:
          '600 rows: 600 cinemas to create, 0 to update, 0 unchanged; 1 cities and 1 regions to create\n' +
          'dry run: nothing was written\n',
        stderr: 'checked 500/600 rows\nchecked 600/600 rows\n',
      });
      expect(rejected.code).toBe(1);
      expect(rejected.stdout).toMatch(/^ROW +COLUMN +PROBLEM$/m);
      expect(rejected.stdout).toMatch(
        /^3 +price +price must be an amount in yuan greater than 0, e\.g\. 35\.00$/m,
      );
      expect(rejected.stderr).toBe(`movticket: 1 problem in ${bad}; nothing was imported\n`);

      const imported = await movticket(env, ['catalog', 'import', good]);
      expect(imported.code).toBe(0);
      expect(imported.stdout).toBe(
        '600 rows: 600 cinemas create, 0 update, 0 unchanged; 1 cities and 1 regions create\n',
      );
      expect(imported.stderr).toContain('wrote 500/600 cinemas\nwrote 600/600 cinemas\n');

      const [priced, both, listed] = await Promise.all([
        movticket(env, ['price', 'set', 'MT000001', '--cinema', 'GZ007', '29.9']),
        movticket(env, ['price', 'set', 'MT000001', '--cinema', 'GZ007', '--kind', 'K2D', '29.90']),
        movticket(env, ['catalog', 'list', '--json']),
      ]);
      expect(priced).toMatchObject({ code: 0, stdout: 'partner MT000001 pays 29.90 for cinema GZ007\n' });
      expect(both).toMatchObject({
        code: 2,
        stderr: 'movticket: error: give exactly one of --cinema ID or --kind ID\n',
      });
      const catalog = JSON.parse(listed.stdout) as { cinemas: unknown[]; cities: { codeId: string }[] };
      expect(catalog.cinemas).toHaveLength(605);
      expect(catalog.cities.map((c) => c.codeId)).toContain('004');

      const today = formatYmdHis(Date.now(), 'Asia/Shanghai');
      const since = `${today.slice(0, 4)}-${today.slice(4, 6)}-${today.slice(6, 8)}`;
      const audit = await movticket(env, [
        'audit',
        '--entity',
        'partner',
        '--id',
        'MT000001',
        '--since',
        since,
      ]);
      const lines = audit.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^TIME +ACTOR +ACTION +ENTITY +CHANGE$/);
      expect(lines.slice(1).map((l) => l.split(/ {2,}/).slice(1, 4))).toEqual([
        ['cli:tester', 'price.set', 'partner:MT000001'],
        ['cli:setup', 'partner.create', 'partner:MT000001'],
      ]);
    });
  });

  describe(`movticket CLI commands in-process (${engine.name})`, () => {
    class Exit extends Error {
      constructor(readonly code: number) {
        super(`exit ${code}`);
      }
    }
    let db: Db;
    let clock: ManualClock;
    beforeEach(async () => {
      clock = new ManualClock(Date.UTC(2025, 5, 1));
      db = await engine.open();
      await makeCatalog(db);
    });
    afterEach(() => db.close());
    afterAll(() => engine.cleanup());

    /** The same commands, parsed by commander, against `db`; prompts answer in turn. */
    async function cli(args: string[], opts: { prompts?: string[] } = {}): Promise<Run> {
      const out: string[] = [];
      let stderr = '';
      clock.advance(1000);
      const program = new Command('movticket').exitOverride();
      registerAdminCommands(program, {
        withCli: (fn) =>
          fn({ config: loadConfig({}), db, clock, actor: 'cli:inproc', out: (l) => out.push(l) }),
        writeErr: (s) => (stderr += s),
        readStdin: async () => '',
        promptSecret: async () => {
          const answer = opts.prompts?.shift();
          if (answer === undefined) throw new Error('unexpected prompt');
          return answer;
        },
        exit: (code) => {
          throw new Exit(code);
        },
      });
      let code = 0;
      try {
        await program.parseAsync(args, { from: 'user' });
      } catch (e) {
        if (!(e instanceof Exit)) throw e;
        code = e.code;
      }
      return { code, stdout: out.map((l) => `${l}\n`).join(''), stderr };
    }

    it('prompts twice for a password on a terminal and enables a disabled account', async () => {
      expect(
        await cli(['user', 'create', 'olga', '--role', 'operator'], {
          prompts: ['one long secret', 'another one'],
        }),
      ).toMatchObject({
        code: 2,
        stderr: 'movticket: error: the two passwords differ\n',
      });
      expect(
        await cli(['user', 'create', 'desk', '--role', 'cinema', '--cinema', '1001'], {
          prompts: ['one long secret', 'one long secret'],
        }),
      ).toMatchObject({ code: 0, stdout: 'created user desk (cinema, cinema 1001)\n' });
      await cli(['user', 'create', 'root', '--role', 'admin'], {
        prompts: ['root secret 1', 'root secret 1'],
      });
      expect((await cli(['user', 'disable', 'desk'])).stdout).toBe('user desk disabled\n');
      expect((await cli(['user', 'enable', 'desk'])).stdout).toBe('user desk enabled\n');
      const list = await cli(['user', 'list']);
      expect(list.stdout).toMatch(
        /^USERNAME +ROLE +CINEMA +STATUS +CREATED +LAST LOGIN\ndesk +cinema +1001 +active /,
      );
      expect(await cli(['user', 'create', 'x', '--role', 'boss'])).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("option '--role <role>' argument 'boss' is invalid"),
      });
    });

    it('resumes, grants, clears prices and shows partners in plain text', async () => {
      const p = await new PartnerAdminService(db, systemClock).create(admin, {
        name: '渠道',
        permissions: ['cities'],
      });
      await cli(['partner', 'suspend', p.partnerId]);
      expect((await cli(['partner', 'resume', p.partnerId])).stdout).toBe(
        `partner ${p.partnerId} is active\n`,
      );
      expect((await cli(['partner', 'grant', p.partnerId, 'kinds,status', 'ban'])).stdout).toBe(
        `partner ${p.partnerId} may call: cities,kinds,status,ban\n`,
      );
      expect((await cli(['partner', 'grant', p.partnerId, 'all'])).stdout).toContain('may call: all');
      await cli(['key', 'create', p.partnerId, '--sec-id', 'main']);
      await cli(['price', 'set', p.partnerId, '--kind', 'K2D', '30']);
      const shown = await cli(['partner', 'show', p.partnerId]);
      expect(shown.stdout).toMatch(/^permissions +all$/m);
      expect(shown.stdout).toMatch(/^main +full +active /m);
      expect(shown.stdout).toMatch(/^kind +K2D +30\.00$/m);
      expect((await cli(['price', 'clear', p.partnerId, '--kind', 'K2D'])).stdout).toBe(
        `partner ${p.partnerId} pays the default price for kind K2D again\n`,
      );
      expect(await cli(['price', 'clear', p.partnerId, '--kind', 'K2D'])).toMatchObject({
        code: 1,
        stderr: `movticket: partner ${p.partnerId} has no own price for kind K2D\n`,
      });
      expect(await cli(['partner', 'set', p.partnerId])).toMatchObject({ code: 2 });
      expect(await cli(['partner', 'set', p.partnerId, '--rate-limit', 'fast'])).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('expected an integer from 0 to 100000'),
      });
    });

    it('adds and edits cities, regions, cinemas and kinds', async () => {
      const steps: [string[], string | RegExp][] = [
        [['catalog', 'city', 'add', '004', '--name', '广州', '--remark', 'gz'], 'created city 004 广州\n'],
        [['catalog', 'city', 'set', '004', '--sort', '7'], 'city 004: 广州 (gz), sort 7\n'],
        [
          ['catalog', 'region', 'add', '004001', '--city', '004', '--name', '天河区'],
          'created region 004001 天河区 in city 004\n',
        ],
        [['catalog', 'region', 'set', '004001', '--remark', 'th'], 'region 004001: 天河区 (th), sort 0\n'],
        [
          [
            'catalog',
            'cinema',
            'add',
            'GZ01',
            '--region',
            '004001',
            '--name',
            '天河影城',
            '--price',
            '30',
            '--market-price',
            '60',
          ],
          /^created cinema GZ01\ncinema_id +GZ01\n[\s\S]*^price +30\.00$/m,
        ],
        [
          ['catalog', 'cinema', 'set', 'GZ01', '--price', '31.5', '--valid-days', '30'],
          /^price +31\.50\nmarket_price +60\.00\nvalid_days +30$/m,
        ],
        [['catalog', 'cinema', 'deactivate', 'GZ01'], 'cinema GZ01 is inactive\n'],
        [['catalog', 'cinema', 'activate', 'GZ01'], 'cinema GZ01 is active\n'],
        [
          [
            'catalog',
            'kind',
            'add',
            'KX',
            '--name',
            '特惠券',
            '--price',
            '20',
            '--market-price',
            '50',
            '--valid-days',
            '30',
            '--cinemas',
            '1001,GZ01',
          ],
          /^cinemas +1001,GZ01$/m,
        ],
        [['catalog', 'kind', 'set', 'KX', '--market-price', '55'], /^market_price +55\.00$/m],
        [['catalog', 'kind', 'cinemas', 'KX', 'GZ01', '2001'], 'kind KX is accepted at: 2001,GZ01\n'],
        [['catalog', 'kind', 'deactivate', 'KX'], 'kind KX is inactive\n'],
        [['catalog', 'kind', 'activate', 'KX'], 'kind KX is active\n'],
      ];
      for (const [args, expected] of steps) {
        const r = await cli(args);
        expect(r.stderr, args.join(' ')).toBe('');
        expect(r.code).toBe(0);
        if (typeof expected === 'string') expect(r.stdout).toBe(expected);
        else expect(r.stdout).toMatch(expected);
      }
      expect(await cli(['catalog', 'kind', 'cinemas', 'KX'])).toMatchObject({
        code: 2,
        stderr: 'movticket: error: give cinema ids, or --none to remove them all\n',
      });
      expect(
        await cli([
          'catalog',
          'cinema',
          'add',
          'GZ01',
          '--region',
          '004001',
          '--name',
          'x',
          '--price',
          '1',
          '--market-price',
          '1',
        ]),
      ).toMatchObject({
        code: 1,
        stderr: 'movticket: cinema GZ01 already exists\n',
      });
      expect(await cli(['catalog', 'cinema', 'add', 'GZ02', '--region', '004001'])).toMatchObject({
        code: 2,
        stderr: "movticket: error: required option '--name <name>' not specified\n",
      });
      const list = await cli(['catalog', 'list']);
      expect(list.stdout).toMatch(/^004 +广州 +gz +7$/m);
      expect(list.stdout).toMatch(/^GZ01 +天河影城 +004 +004001 +31\.50 +60\.00 +30 +yes$/m);

      const audit = await cli(['audit', '--entity', 'cinema', '--id', 'GZ01', '--json', '--limit', '2']);
      const page = JSON.parse(audit.stdout) as {
        entries: { action: string; actor: string }[];
        nextOffset: number;
      };
      expect(page.entries.map((e) => e.action)).toEqual(['cinema.activate', 'cinema.deactivate']);
      expect(page.entries[0]!.actor).toBe('cli:inproc');
      expect(page.nextOffset).toBe(2);
      const text = await cli(['audit', '--entity', 'cinema', '--id', 'GZ01', '--action', 'cinema.update']);
      expect(text.stdout).toMatch(/cinema\.update +cinema:GZ01 +priceFen: 3000 → 3150; validDays: 90 → 30$/m);
      expect(await cli(['audit', '--since', '2025-02-30'])).toMatchObject({
        code: 2,
        stderr: 'movticket: error: --since 2025-02-30 is not a real date\n',
      });
    });
  });
}
