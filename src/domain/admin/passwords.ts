import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from 'node:crypto';

// 2^15 × 8 × 128 bytes = 32 MiB and ~100 ms per hash: well above OWASP's scrypt floor, cheap enough for a login.
const DEFAULT_PARAMS = { N: 2 ** 15, r: 8, p: 1 };
let newHashParams = DEFAULT_PARAMS;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

function derive(
  password: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, HASH_BYTES, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const { N, r, p } = newHashParams;
  const hash = await derive(password, salt, newHashParams);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/**
 * Test hook, never called by the server: new hashes at scrypt cost `N` (a power of two from 2^10),
 * or at the default again without an argument. The test setup lowers it so that suites creating
 * many accounts do not spend ~100 ms of CPU on each; verification always uses the cost stored
 * with the hash, so every code path stays the same.
 */
export function setHashCostForTests(N?: number): void {
  if (N !== undefined && !(N >= 2 ** 10 && N <= DEFAULT_PARAMS.N && (N & (N - 1)) === 0)) {
    throw new RangeError(`scrypt cost ${N} is not a power of two from 2^10 to the default`);
  }
  newHashParams = N === undefined ? DEFAULT_PARAMS : { ...DEFAULT_PARAMS, N };
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parse(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^[0-9]{1,8}$/.test(s) ? Number(s) : NaN)) as [
    number,
    number,
    number,
  ];
  // Bounds keep a corrupted or hostile row from making one verification cost gigabytes.
  const powerOfTwo = N >= 2 ** 10 && N <= 2 ** 20 && (N & (N - 1)) === 0;
  if (!powerOfTwo || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16)) return null;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const hash = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || hash.length < 16) return null;
  return { N, r, p, salt, hash };
}

/** True when `password` matches the stored hash; false for a wrong password or a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const actual = await derive(password, parsed.salt, parsed);
  return actual.length === parsed.hash.length && timingSafeEqual(actual, parsed.hash);
}

let dummy: Promise<string> | undefined;

/**
 * Spends the time of one verification against a throw-away hash, so an unknown user name
 * takes as long to reject as a wrong password.
 */
export async function verifyNothing(password: string): Promise<false> {
  dummy ??= hashPassword(randomBytes(12).toString('hex'));
  await verifyPassword(password, await dummy);
  return false;
}
