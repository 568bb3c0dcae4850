import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, run } from './support/toolchains.js';

// The TypeScript SDK as a channel installs it: `npm pack` of packages/client, unpacked into a
// project of its own, imported by its package name with its types.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGE = path.join(ROOT, 'packages', 'client');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('the @movticket/client package', { timeout: 240_000 }, () => {
  let dir: string;
  let tarball: string;
  let files: string[];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-client-pkg-'));
    const packed = await run(npm, ['pack', '--json', '--pack-destination', dir], {
      cwd: PACKAGE,
      env: cleanEnv(),
      timeoutMs: 180_000,
    });
    expect(packed, packed.stderr).toMatchObject({ code: 0 });
    // prepack's own output comes first; the JSON report is the rest.
    const report = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('\n[') + 1)) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = path.join(dir, report[0]!.filename);
    files = report[0]!.files.map((f) => f.path).sort();
  }, 240_000);

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('packs the built SDK, its types and README, and no sources or tests', () => {
    expect(fs.existsSync(tarball)).toBe(true);
    expect(files).toContain('README.md');
    expect(files).toContain('package.json');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files.filter((f) => !/^dist\/[a-z-]+\.(js|d\.ts)$/.test(f))).toEqual([
      'README.md',
      'package.json',
    ]);
    expect(files.some((f) => f.includes('test'))).toBe(false);
  });

  it('is imported by its name from the tarball, with types, and signs the guide’s worked example', async () => {
    const project = path.join(dir, 'channel');
    const installed = path.join(project, 'node_modules', '@movticket', 'client');
    fs.mkdirSync(installed, { recursive: true });
    const untar = await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], {
      timeoutMs: 60_000,
    });
    expect(untar, untar.stderr).toMatchObject({ code: 0 });
    // Its one dependency, as npm would install it (from this repository's node_modules: no network).
    fs.symlinkSync(
      path.join(ROOT, 'node_modules', 'fast-xml-parser'),
      path.join(project, 'node_modules', 'fast-xml-parser'),
      'dir',
    );
    fs.writeFileSync(
      path.join(project, 'package.json'),
      '{ "name": "channel", "private": true, "type": "module" }\n',
    );
    // What a channel's TypeScript sees: checked by tsc against the package's own types only.
    fs.writeFileSync(
      path.join(project, 'main.ts'),
      [
        "import { MovTicketClient, type Card, type MovTicketError } from '@movticket/client';",
        "const client = new MovTicketClient({ baseUrl: 'http://127.0.0.1:9', partnerId: 'CS000001', secId: 'test', busId: '1002758', md5key: 'x', signMode: 'full' });",
        'export async function buy(): Promise<Card> {',
        "  return (await client.buyByCinema({ cinemaId: '1001', count: 2, orderNo: 'ORD1' })).card;",
        '}',
        'export const typeOf = (err: MovTicketError): string => err.type;',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        },
        files: ['main.ts'],
      }),
    );
    const tsc = await run(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
      {
        cwd: project,
        timeoutMs: 120_000,
      },
    );
    expect(tsc, tsc.stdout + tsc.stderr).toMatchObject({ code: 0 });

    // What it runs: plain ESM, resolved through the package's `exports`.
    fs.writeFileSync(
      path.join(project, 'main.mjs'),
      [
        "import { MovTicketClient, MovTicketError, computeHashcode, normaliseData, parseEnvelope } from '@movticket/client';",
        'const hash = computeHashcode(',
        "  'full',",
        "  { partner_id: 'CS000001', sec_id: 'test', bus_id: '1002758', req_id: '2012010100000002', ver: '1000', timestamp: '20121225020202', card_no: '6281234567890123', mobile: '13812345678' },",
        "  'e10adc3949ba59abbe56e057f20f883e',",
        ');',
        "const { data } = parseEnvelope('<response><code>200</code><data><cities/></data></response>', 'application/xml');",
        "const envelope = normaliseData('cities', data);",
        "const client = new MovTicketClient({ baseUrl: 'http://127.0.0.1:9', partnerId: 'CS000001', secId: 'test', busId: '1002758', md5key: 'x' });",
        'console.log(JSON.stringify({ hash, envelope, client: typeof client.cities, error: typeof MovTicketError }));',
        '',
      ].join('\n'),
    );
    const ran = await run(process.execPath, ['main.mjs'], { cwd: project, timeoutMs: 60_000 });
    expect(ran, ran.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(ran.stdout)).toEqual({
      hash: '7a27021fdd92e04520656f58003e4748',
      envelope: { cities: [] },
      client: 'function',
      error: 'function',
    });
  });
});
