import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir } from './private-files.js';

describe('ensurePrivateDir', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('closes a directory left open to others, saying so', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-open-'));
    fs.chmodSync(dir, 0o755);
    const warnings: string[] = [];
    ensurePrivateDir(dir, (m) => warnings.push(m));
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(warnings).toHaveLength(1);
  });

  it('refuses a shared sticky directory such as /tmp and leaves its mode alone', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-shared-'));
    fs.chmodSync(dir, 0o1777);
    expect(() => ensurePrivateDir(dir!, () => {})).toThrow(/shared by every user.*directory of its own/);
    expect(fs.statSync(dir).mode & 0o7777).toBe(0o1777);
  });
});
