import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(fs.readFileSync(`${ROOT}/package.json`, 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
};

// vitest's global setup builds dist/ (test/support/build-dist.ts); these check what an operator's `npm start` runs.
describe('the built package', () => {
  it('ships a movticket command from dist/ that answers --help', () => {
    const bin = pkg.bin.movticket!;
    expect(bin).toMatch(/^dist\//);
    expect(fs.readFileSync(`${ROOT}/${bin}`, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const run = spawnSync(process.execPath, [bin, '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('serve');
  });

  it('starts from compiled code and needs no TypeScript loader at run time', () => {
    expect(pkg.scripts.start).toMatch(/^node (--[\w-]+=\w+ )*dist\//);
    expect(pkg.scripts.prestart).toContain('build');
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.dependencies)).not.toContain('typescript');
  });

  it('runs the server with the same node flags from npm, the systemd unit and the docs', () => {
    const flags = (command: string) =>
      /node ((?:--[\w-]+=\w+ )*)\S*dist\/cli\/main\.js serve/.exec(command)?.[1];
    const unit = fs.readFileSync(`${ROOT}/deploy/movticket.service`, 'utf8');
    const docs = fs.readFileSync(`${ROOT}/docs/deployment.md`, 'utf8');
    const expected = flags(pkg.scripts.serve!);
    expect(expected).toContain('--max-semi-space-size=');
    expect(flags(pkg.scripts.start!)).toBe(expected);
    expect(flags(unit)).toBe(expected);
    expect(flags(docs)).toBe(expected);
  });
});
