import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateKeyText,
  isSealed,
  keyFileEntry,
  keyId,
  parseKeyFile,
  SecretBox,
  SecretBoxError,
} from './secret-box.js';

describe('secret box', () => {
  it('seals a value that opens to the same text and does not contain it', () => {
    const box = SecretBox.generate();
    for (const plain of [
      '01234567',
      '',
      '【电影票】密码01234567，有效期至2030-01-01',
      '{"card":{"password":"x"}}',
    ]) {
      const sealed = box.seal(plain);
      expect(sealed).toMatch(/^v1:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$/);
      if (plain !== '') expect(sealed).not.toContain(plain);
      expect(isSealed(sealed)).toBe(true);
      expect(box.open(sealed)).toBe(plain);
    }
  });

  it('uses a fresh nonce for every value, so equal passwords seal differently', () => {
    const box = SecretBox.generate();
    // Enough values to span several blocks of drawn nonces.
    const sealed = new Set(Array.from({ length: 1200 }, () => box.seal('12345678')));
    expect(sealed.size).toBe(1200);
    const nonces = new Set([...sealed].map((s) => s.split(':')[2]));
    expect(nonces.size).toBe(1200);
    for (const s of sealed) expect(box.open(s)).toBe('12345678');
  });

  it('passes legacy plaintext through open unchanged', () => {
    const box = SecretBox.generate();
    expect(box.open('12345678')).toBe('12345678');
    expect(isSealed('12345678')).toBe(false);
    expect(box.needsSealing('12345678')).toBe(true);
  });

  it('refuses a value whose ciphertext, tag, nonce or key id was tampered with', () => {
    const box = SecretBox.generate();
    const sealed = box.seal('12345678');
    const [v, id, nonce, ct, tag] = sealed.split(':') as [string, string, string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    expect(() => box.open([v, id, nonce, flip(ct), tag].join(':'))).toThrow(SecretBoxError);
    expect(() => box.open([v, id, nonce, ct, flip(tag)].join(':'))).toThrow(SecretBoxError);
    expect(() => box.open([v, id, flip(nonce), ct, tag].join(':'))).toThrow(SecretBoxError);
    expect(() => box.open([v, 'AAAAAAAA', nonce, ct, tag].join(':'))).toThrow(/not in the key file/);
    expect(() => box.open('v1:broken')).toThrow(/malformed/);
  });

  it('seals with the newest key, opens with any, and says which values need re-sealing', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = SecretBox.fromKeys([oldKey]);
    const sealedOld = before.seal('11112222');
    const after = SecretBox.fromKeys([newKey, oldKey]);
    expect(after.currentKeyId).toBe(keyId(newKey));
    expect(after.keyIds).toEqual([keyId(newKey), keyId(oldKey)]);
    expect(after.open(sealedOld)).toBe('11112222');
    expect(after.needsSealing(sealedOld)).toBe(true);
    const sealedNew = after.seal('11112222');
    expect(sealedNew.split(':')[1]).toBe(keyId(newKey));
    expect(after.needsSealing(sealedNew)).toBe(false);
    // Once the old key is dropped its values no longer open, with a message naming the key.
    expect(() => SecretBox.fromKeys([newKey]).open(sealedOld)).toThrow(keyId(oldKey));
    // And a key that is not the one named cannot open the value.
    expect(() => SecretBox.fromKeys([newKey]).open(sealedOld.replace(keyId(oldKey), keyId(newKey)))).toThrow(
      /integrity/,
    );
  });

  it('reads a key file of several keys, comments and blank lines, newest first', () => {
    const a = generateKeyText();
    const b = generateKeyText();
    const text = `${keyFileEntry(a, new Date(0))}\n${keyFileEntry(b, new Date(0))}`;
    expect(text).toContain(`# movticket secret key ${keyId(Buffer.from(a, 'base64url'))}`);
    const keys = parseKeyFile(text);
    expect(keys.map((k) => k.toString('base64url'))).toEqual([a, b]);
    const box = SecretBox.fromKeyFile(text);
    expect(box.currentKeyId).toBe(keyId(Buffer.from(a, 'base64url')));
  });

  it('refuses a key file without keys, with a malformed line (without echoing it) or a key twice', () => {
    expect(() => parseKeyFile('# nothing\n\n')).toThrow(/holds no key/);
    const secretLooking = 'abc123-not-a-key';
    const err = (() => {
      try {
        parseKeyFile(`${generateKeyText()}\n${secretLooking}\n`);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a refusal');
    })();
    expect(err.message).toMatch(/^line 2 is not a key/);
    expect(err.message).not.toContain(secretLooking);
    const k = generateKeyText();
    expect(() => SecretBox.fromKeyFile(`${k}\n${k}\n`)).toThrow(/listed twice/);
  });
});
