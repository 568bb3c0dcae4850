import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

/** The HTTP layer and what builds it; the rest of src/ joins as it is split. */
const inHttpLayer = (file: string) =>
  file.startsWith('http/') || file === 'app.ts' || file === 'composition.ts' || file === 'server.ts';

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(root, 'src', dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(path.join(root, 'src'), path.join(e.parentPath, e.name)));
}

describe('the shape of the HTTP layer', () => {
  it('has no import cycle through src/http, app.ts or composition.ts', async () => {
    // madge exits 1 when it finds a cycle; the list is on stdout either way.
    const { stdout } = await run(
      path.join(root, 'node_modules', '.bin', 'madge'),
      ['--circular', '--json', '--extensions', 'ts', '--ts-config', 'tsconfig.json', 'src'],
      { cwd: root },
    ).catch((err: { stdout: string }) => ({ stdout: err.stdout }));
    const cycles = JSON.parse(stdout) as string[][];
    expect(cycles.filter((c) => c.some(inHttpLayer))).toEqual([]);
  });

  it('keeps every file of it under 500 lines', async () => {
    const files = [...(await sourceFiles('http')), 'app.ts', 'composition.ts', 'server.ts'];
    const long: string[] = [];
    for (const f of files) {
      const lines = (await readFile(path.join(root, 'src', f), 'utf8')).split('\n').length;
      if (lines > 500) long.push(`${f}: ${lines}`);
    }
    expect(files.length).toBeGreaterThan(40);
    expect(long).toEqual([]);
  });
});
