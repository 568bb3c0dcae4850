import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAX_LINES = 500;

/** Every import cycle among the .ts files under `dir`, each as `a.ts > b.ts > …`. */
async function importCycles(dir: string): Promise<string[]> {
  const graph = await madge(dir, {
    fileExtensions: ['ts'],
    tsConfig: path.join(ROOT, 'tsconfig.json'),
  });
  // A file madge cannot resolve would hide the cycles through it.
  expect(graph.warnings().skipped).toEqual([]);
  return graph.circular().map((cycle) => cycle.join(' > '));
}

function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

function lineCount(file: string): number {
  const text = fs.readFileSync(file, 'utf8');
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the shape of src/', () => {
  it('has no import cycles, not even through type-only imports', async () => {
    const cycles = await importCycles(path.join(ROOT, 'src'));
    expect(cycles).toEqual([]);
  });

  it('has no file over 500 lines', () => {
    const long = tsFiles(path.join(ROOT, 'src'))
      .map((f) => ({ file: path.relative(ROOT, f).split(path.sep).join('/'), lines: lineCount(f) }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.file}: ${f.lines} lines`);
    expect(long).toEqual([]);
  });

  it('finds a cycle made only of type imports', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-cycle-'));
    scratch.push(dir);
    fs.writeFileSync(path.join(dir, 'a.ts'), "import type { B } from './b.js';\nexport type A = B[];\n");
    fs.writeFileSync(path.join(dir, 'b.ts'), "import type { A } from './a.js';\nexport type B = A | 1;\n");
    fs.writeFileSync(path.join(dir, 'c.ts'), "import type { A } from './a.js';\nexport type C = A;\n");
    expect(await importCycles(dir)).toEqual(['a.ts > b.ts']);
  });
});
