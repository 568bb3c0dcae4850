import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

// Secrets at rest (card passwords, the answers and SMS texts that carry them) are sealed with
// AES-256-GCM under a key the operator keeps outside the database. A sealed value names its key:
//   v1:<key id>:<nonce>:<ciphertext>:<tag>     (each part base64url; the nonce is 96 random bits)
// so a key file may hold several keys: the first seals, all open, and `movticket secret-key
// rotate` re-seals old values under the first.

const VERSION = 'v1';
const PREFIX = `${VERSION}:`;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;
// Nonces are cut from a block of CSPRNG output drawn 341 nonces at a time: a draw costs ~9 µs
// here whatever its size, three seals per payment. A nonce is not secret (it is stored in the
// sealed value); it must only never repeat, and each block is a fresh buffer, so no part of one
// is handed out twice.
const NONCE_BLOCK_BYTES = NONCE_BYTES * 341;
let nonceBlock = Buffer.alloc(0);
let nonceAt = 0;

function freshNonce(): Buffer {
  if (nonceAt + NONCE_BYTES > nonceBlock.length) {
    nonceBlock = randomBytes(NONCE_BLOCK_BYTES);
    nonceAt = 0;
  }
  nonceAt += NONCE_BYTES;
  return nonceBlock.subarray(nonceAt - NONCE_BYTES, nonceAt);
}

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

interface Key {
  id: string;
  key: KeyObject;
  /** `v1:<id>`: the header is authenticated too, so a value cannot be passed off as another key's. */
  aad: Buffer;
}

/** The id a key is known by in sealed values: 48 bits of an HMAC of a fixed label; not secret. */
export function keyId(key: Buffer): string {
  return createHmac('sha256', key).update('movticket secret key id').digest('base64url').slice(0, 8);
}

/** True when `value` is a sealed value (of any key), as opposed to legacy plaintext. */
export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** Seals and opens secrets with the keys of a key file: the first (newest) seals, all open. */
export class SecretBox {
  private readonly keys: Key[];
  private readonly byId: Map<string, Key>;

  private constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new SecretBoxError('no secret key');
    this.keys = keys.map((k) => {
      if (k.length !== KEY_BYTES) throw new SecretBoxError(`a secret key must be ${KEY_BYTES} bytes`);
      const id = keyId(k);
      return { id, key: createSecretKey(k), aad: Buffer.from(`${VERSION}:${id}`) };
    });
    this.byId = new Map();
    for (const k of this.keys) {
      if (this.byId.has(k.id)) throw new SecretBoxError(`key ${k.id} is listed twice`);
      this.byId.set(k.id, k);
    }
  }

  /** A box of raw 32-byte keys, newest first. */
  static fromKeys(keys: Buffer[]): SecretBox {
    return new SecretBox(keys);
  }

  /** A box of the keys in a key file's text (see parseKeyFile). */
  static fromKeyFile(text: string): SecretBox {
    return new SecretBox(parseKeyFile(text));
  }

  /** A box with one fresh random key (tests, and a first demo start). */
  static generate(): SecretBox {
    return new SecretBox([randomBytes(KEY_BYTES)]);
  }

  /** Id of the key that seals. */
  get currentKeyId(): string {
    return this.keys[0]!.id;
  }

  /** Ids of every key, newest first. */
  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  seal(plain: string): string {
    const { id, key, aad } = this.keys[0]!;
    const nonce = freshNonce();
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${id}:${nonce.toString('base64url')}:${ct.toString('base64url')}:${cipher
      .getAuthTag()
      .toString('base64url')}`;
  }

  /**
   * The plaintext of a sealed value. A value without the `v1:` prefix is legacy plaintext (stored
   * before sealing began, not yet converted) and is returned as it is.
   */
  open(value: string): string {
    if (!isSealed(value)) return value;
    const parts = value.split(':');
    if (parts.length !== 5) throw new SecretBoxError('malformed sealed value');
    const [, id, nonceText, ctText, tagText] = parts as [string, string, string, string, string];
    const k = this.byId.get(id);
    if (!k) {
      throw new SecretBoxError(
        `a stored secret was sealed with key ${id}, which is not in the key file (MOVTICKET_SECRET_KEY_FILE)`,
      );
    }
    const nonce = Buffer.from(nonceText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretBoxError('malformed sealed value');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', k.key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(k.aad);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretBoxError(`a stored secret sealed with key ${id} failed its integrity check`);
    }
  }

  /** True when `value` is plaintext or sealed by a key other than the current one. */
  needsSealing(value: string): boolean {
    return !value.startsWith(`${PREFIX}${this.currentKeyId}:`);
  }
}

/** A new key as a key file line: 32 random bytes, base64url. */
export function generateKeyText(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/** The lines `movticket secret-key generate` writes: a comment naming the key, then the key. */
export function keyFileEntry(keyText: string, at: Date): string {
  return `# movticket secret key ${keyId(Buffer.from(keyText, 'base64url'))}, created ${at.toISOString()}\n${keyText}\n`;
}

/**
 * The keys of a key file, newest first: one base64url 32-byte key a line; blank lines and lines
 * starting with `#` are ignored. Errors name the line, never its content.
 */
export function parseKeyFile(text: string): Buffer[] {
  const keys: Buffer[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!KEY_TEXT.test(line)) {
      throw new SecretBoxError(
        `line ${i + 1} is not a key: expected 43 base64url characters (32 bytes, as \`movticket secret-key generate\` prints)`,
      );
    }
    keys.push(Buffer.from(line, 'base64url'));
  }
  if (keys.length === 0) throw new SecretBoxError('it holds no key');
  return keys;
}
