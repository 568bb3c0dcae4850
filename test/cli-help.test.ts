import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CINEMA_CSV_COLUMNS } from '../src/domain/admin/catalog-import.js';
import { CLI_ENTRY } from './support/build-dist.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-help-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Runs the built CLI and returns, besides its output, every module it loaded (as file paths). */
function runRecordingModules(args: string[]) {
  const hooks = path.join(scratch, 'hooks.mjs');
  const register = path.join(scratch, 'register.mjs');
  const log = path.join(scratch, `loaded-${args.join('-')}.txt`);
  fs.writeFileSync(
    hooks,
    "import fs from 'node:fs';\n" +
      'export async function load(url, context, next) {\n' +
      "  fs.appendFileSync(process.env.LOADED_MODULES_LOG, url + '\\n');\n" +
      '  return next(url, context);\n' +
      '}\n',
  );
  fs.writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const run = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, CLI_ENTRY, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, LOADED_MODULES_LOG: log },
  });
  const loaded = fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((u) => u.startsWith('file:'))
    .map((u) => fs.realpathSync(fileURLToPath(u)));
  return { ...run, loaded };
}

/** The npm package a file belongs to, or undefined for the project's own files. */
function packageOf(file: string): string | undefined {
  const m = /[/\\]node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)/.exec(file);
  return m?.[1];
}

describe('movticket --help', () => {
  it('lists the commands while loading only commander and the command declarations', () => {
    const run = runRecordingModules(['--help']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    for (const command of ['serve', 'user', 'partner', 'catalog', 'card', 'statement', 'secret-key']) {
      expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    const packages = new Set(run.loaded.map(packageOf).filter((p) => p !== undefined));
    expect([...packages]).toEqual(['commander']);
    // No database, HTTP or service code: those load when a command runs.
    const dist = path.join(fs.realpathSync(ROOT), 'dist');
    const own = run.loaded.filter((f) => f.startsWith(dist)).map((f) => path.relative(dist, f));
    expect(own.filter((f) => /^(db|http|workers)[/\\]|\.service\.js$/.test(f))).toEqual([]);
  });

  it("names the CSV import's columns, as the importer reads them, without loading the importer", () => {
    const run = runRecordingModules(['catalog', 'import', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`\n  ${CINEMA_CSV_COLUMNS.join(',')}\n`);
    const packages = new Set(run.loaded.map(packageOf).filter((p) => p !== undefined));
    expect([...packages]).toEqual(['commander']);
  });
});
