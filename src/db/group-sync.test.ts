import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GroupSync } from './group-sync.js';

describe('GroupSync', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('shares one fsync among the callers waiting for it, and runs one more for those who came during it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'group-sync-'));
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'x');
    const held: (() => void)[] = [];
    const spy = vi.spyOn(fs, 'fdatasync').mockImplementation(((_fd: number, cb: (e: null) => void) => {
      held.push(() => cb(null));
    }) as never);
    const sync = new GroupSync(file);
    const order: string[] = [];
    const first = sync.sync().then(() => order.push('first'));
    const during = [sync.sync(), sync.sync()].map((p, i) => p.then(() => order.push(`during${i}`)));
    expect(spy).toHaveBeenCalledTimes(1);
    held.shift()!();
    await first;
    // The two that came while the first fsync ran share the second one.
    expect(spy).toHaveBeenCalledTimes(2);
    expect(order).toEqual(['first']);
    held.shift()!();
    await Promise.all(during);
    expect(spy).toHaveBeenCalledTimes(2);
    await sync.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports a failed fsync to everyone who waited for it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'group-sync-'));
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'x');
    vi.spyOn(fs, 'fdatasync').mockImplementation(((_fd: number, cb: (e: Error) => void) =>
      cb(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))) as never);
    const sync = new GroupSync(file);
    await expect(sync.sync()).rejects.toMatchObject({ code: 'unavailable' });
    await sync.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
