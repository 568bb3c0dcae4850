import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

// Tencent Cloud API 3.0 request signature, TC3-HMAC-SHA256, for a POST of a JSON body with the
// signed headers `content-type;host` (what the official SDKs sign).

export const TC3_ALGORITHM = 'TC3-HMAC-SHA256';

export interface Tc3Request {
  /** The Host header as sent (with the port where there is one). */
  host: string;
  contentType: string;
  payload: string;
  /** Unix seconds, the X-TC-Timestamp header. */
  timestamp: number;
  /** The product, e.g. `sms`: the first label of the product's host name. */
  service: string;
}

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: string | Buffer, msg: string) => createHmac('sha256', key).update(msg, 'utf8').digest();

/** The UTC date of the timestamp, `YYYY-MM-DD`: the credential scope's date. */
export function tc3Date(timestamp: number): string {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

export function tc3CanonicalRequest(r: Tc3Request): string {
  return [
    'POST',
    '/',
    '',
    `content-type:${r.contentType.toLowerCase()}\nhost:${r.host.toLowerCase()}\n`,
    'content-type;host',
    sha256Hex(r.payload),
  ].join('\n');
}

export function tc3StringToSign(r: Tc3Request): string {
  return [
    TC3_ALGORITHM,
    String(r.timestamp),
    `${tc3Date(r.timestamp)}/${r.service}/tc3_request`,
    sha256Hex(tc3CanonicalRequest(r)),
  ].join('\n');
}

export function tc3Signature(r: Tc3Request, secretKey: string): string {
  const secretDate = hmac(`TC3${secretKey}`, tc3Date(r.timestamp));
  const secretService = hmac(secretDate, r.service);
  const secretSigning = hmac(secretService, 'tc3_request');
  return createHmac('sha256', secretSigning).update(tc3StringToSign(r), 'utf8').digest('hex');
}

/** The Authorization header's value. */
export function tc3Authorization(r: Tc3Request, secretId: string, secretKey: string): string {
  return (
    `${TC3_ALGORITHM} Credential=${secretId}/${tc3Date(r.timestamp)}/${r.service}/tc3_request, ` +
    `SignedHeaders=content-type;host, Signature=${tc3Signature(r, secretKey)}`
  );
}

export interface ParsedTc3Authorization {
  secretId: string;
  date: string;
  service: string;
  signedHeaders: string;
  signature: string;
}

export function parseTc3Authorization(header: string): ParsedTc3Authorization | null {
  const m =
    /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([a-z0-9]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      header,
    );
  if (!m) return null;
  return { secretId: m[1]!, date: m[2]!, service: m[3]!, signedHeaders: m[4]!, signature: m[5]! };
}

/** Whether `signature` (hex) is the one the key gives for the request; constant-time compare. */
export function verifyTc3Signature(r: Tc3Request, secretKey: string, signature: string): boolean {
  const a = Buffer.from(signature, 'utf8');
  const b = Buffer.from(tc3Signature(r, secretKey), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
