import { createHmac, timingSafeEqual } from 'node:crypto';

// Aliyun's RPC-style request signature (SignatureMethod HMAC-SHA1, SignatureVersion 1.0), as
// dysmsapi checks it: the parameters sorted by name, each name and value percent-encoded per
// RFC 3986, the canonical string signed with the AccessKey secret followed by "&".

/** RFC 3986 encoding: only A-Z a-z 0-9 - _ . ~ stay as they are; a space is %20, `*` is %2A. */
export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `name=value` pairs sorted by name (code unit order), encoded, joined by `&`. */
export function canonicalQuery(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k]!)}`)
    .join('&');
}

export function stringToSign(method: 'GET' | 'POST', params: Readonly<Record<string, string>>): string {
  return `${method}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
}

/** The `Signature` parameter's value, before URL encoding (base64). */
export function rpcSignature(
  method: 'GET' | 'POST',
  params: Readonly<Record<string, string>>,
  accessKeySecret: string,
): string {
  return createHmac('sha1', `${accessKeySecret}&`)
    .update(stringToSign(method, params), 'utf8')
    .digest('base64');
}

/** Whether `params.Signature` is the one the secret gives; compared in constant time. */
export function verifyRpcSignature(
  method: 'GET' | 'POST',
  params: Readonly<Record<string, string>>,
  accessKeySecret: string,
): boolean {
  const given = Buffer.from(params.Signature ?? '', 'utf8');
  const expected = Buffer.from(rpcSignature(method, params, accessKeySecret), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
