import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { SecretBox } from './domain/secret-box.js';
import { addKeyToFile, createKeyFile, DEMO_KEY_FILE, loadSecretBox, readKeyFile } from './secret-key-file.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-key-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const mode = (p: string) => fs.statSync(p).mode & 0o777;
const refusal = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
};

describe('the secret key file', () => {
  it('refuses to start outside the demo without a key file, saying how to make one', () => {
    const dir = tempDir();
    const config = loadConfig({ MOVTICKET_DATA_DIR: dir });
    const err = refusal(() => loadSecretBox(config, { demo: false, warn: () => {} }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('MOVTICKET_SECRET_KEY_FILE is not set');
    expect(err.message).toContain('movticket secret-key generate --out');
    expect(fs.existsSync(path.join(dir, DEMO_KEY_FILE))).toBe(false);
  });

  it('makes an owner-only key file in a new data directory on the first demo start and reuses it', () => {
    const dataDir = path.join(tempDir(), 'data');
    const config = loadConfig({ MOVTICKET_DATA_DIR: dataDir });
    const first = loadSecretBox(config, { demo: true, warn: () => {} });
    const file = path.join(dataDir, DEMO_KEY_FILE);
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    const second = loadSecretBox(config, { demo: true, warn: () => {} });
    expect(second.currentKeyId).toBe(first.currentKeyId);
    expect(second.open(first.seal('12345678'))).toBe('12345678');
    // The CLI on a demo install finds it; a non-demo server is told where it is but refuses.
    expect(loadSecretBox(config, { demo: false, demoFileIfPresent: true, warn: () => {} }).currentKeyId).toBe(
      first.currentKeyId,
    );
    expect(refusal(() => loadSecretBox(config, { demo: false, warn: () => {} })).message).toContain(
      `MOVTICKET_SECRET_KEY_FILE=${file}`,
    );
  });

  it('uses the configured key file, in the demo too', () => {
    const dir = tempDir();
    const file = path.join(dir, 'movticket.key');
    createKeyFile(file);
    const config = loadConfig({
      MOVTICKET_DATA_DIR: path.join(dir, 'data'),
      MOVTICKET_SECRET_KEY_FILE: file,
    });
    const box = loadSecretBox(config, { demo: true, warn: () => {} });
    expect(box.currentKeyId).toBe(readKeyFile(file).currentKeyId);
    expect(fs.existsSync(path.join(dir, 'data', DEMO_KEY_FILE))).toBe(false);
  });

  it('refuses a key file open to group or others, a missing one and a malformed one, never echoing a key', () => {
    const dir = tempDir();
    const file = path.join(dir, 'k');
    createKeyFile(file);
    const key = fs.readFileSync(file, 'utf8').split('\n')[1]!;
    for (const loose of [0o644, 0o640, 0o604, 0o660]) {
      fs.chmodSync(file, loose);
      const err = refusal(() => readKeyFile(file));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain(`chmod 600 ${file}`);
    }
    fs.chmodSync(file, 0o400);
    expect(readKeyFile(file).keyIds).toHaveLength(1);
    fs.chmodSync(file, 0o600);
    expect(refusal(() => readKeyFile(path.join(dir, 'absent'))).message).toMatch(/ENOENT.*generate --out/);
    fs.writeFileSync(file, `${key.slice(0, 30)}\n`);
    const bad = refusal(() => readKeyFile(file));
    expect(bad.message).toMatch(/line 1 is not a key/);
    expect(bad.message).not.toContain(key.slice(0, 30));
  });

  it('writes a new key file owner-only, refuses to overwrite one, and adds a newer key in front', () => {
    const dir = tempDir();
    const file = path.join(dir, 'k');
    expect(createKeyFile(file)).toBe(true);
    expect(mode(file)).toBe(0o600);
    expect(refusal(() => createKeyFile(file)).message).toContain('secret-key add');
    const before = readKeyFile(file);
    const sealed = before.seal('87654321');
    const after = addKeyToFile(file);
    expect(mode(file)).toBe(0o600);
    expect(after.keyIds).toEqual([expect.any(String), before.currentKeyId]);
    expect(after.currentKeyId).not.toBe(before.currentKeyId);
    expect(after.open(sealed)).toBe('87654321');
    expect(SecretBox.fromKeyFile(fs.readFileSync(file, 'utf8')).keyIds).toEqual(after.keyIds);
    expect(fs.readdirSync(dir)).toEqual(['k']);
  });
});
