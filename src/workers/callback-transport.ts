import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import {
  type CallbackPolicy,
  type CallbackRefusal,
  describeRefusal,
  hostOf,
} from '../domain/callback-policy.js';

/** POSTs a form; resolves with the HTTP status, rejects when no answer came (refused, timeout). */
export type NotifyTransport = (url: string, form: [string, string][], timeoutMs: number) => Promise<number>;

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name resolves to (the system resolver, as a connection would use it). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/** The callback was not sent: its address is one the platform does not call. */
export class CallbackRefusedError extends Error {
  override name = 'CallbackRefusedError';
  constructor(readonly refusal: CallbackRefusal) {
    super(describeRefusal(refusal));
  }
}

/**
 * A lookup for the socket that resolves the host itself, checks every address and hands the
 * socket only those, so what it connects to is what was checked (a second resolution could
 * answer differently: DNS rebinding).
 */
function vettedLookup(policy: CallbackPolicy, resolve: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const addresses = found.filter((a) => wanted === 0 || a.family === wanted);
        const host = hostname.toLowerCase().replace(/\.$/, '');
        // A name the operator allowed may resolve to anything.
        for (const a of policy.allowsHost(host) ? [] : addresses) {
          const refusal = policy.refuseAddress(host, a.address);
          if (refusal) return callback(new CallbackRefusedError(refusal), '', 0);
        }
        if (addresses.length === 0) {
          const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
          return callback(err, '', 0);
        }
        if (options.all) return callback(null, addresses);
        return callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/**
 * Sends callbacks with node:http(s), refusing destinations the policy refuses: by the URL before
 * anything happens, and by every address the host resolves to right before connecting. Redirects
 * are not followed: a 3xx is an answer that is not 2xx, and the partner fixes its URL.
 */
export function callbackTransport(
  policy: CallbackPolicy,
  resolve: Resolver = systemResolver,
): NotifyTransport {
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };
  const lookup = vettedLookup(policy, resolve);
  return (target, form, timeoutMs) =>
    new Promise<number>((resolvePost, reject) => {
      const url = new URL(target);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return reject(new Error(`unsupported callback URL scheme ${url.protocol}`));
      }
      const refusal = policy.refuseUrl(url);
      if (refusal) return reject(new CallbackRefusedError(refusal));
      const host = hostOf(url);
      const body = new URLSearchParams(form).toString();
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, {
        method: 'POST',
        agent: agents[url.protocol],
        headers: {
          'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
          'content-length': Buffer.byteLength(body),
        },
        // An address literal is never looked up; it was checked above.
        lookup: isIP(host) !== 0 ? undefined : lookup,
        signal: AbortSignal.timeout(timeoutMs),
      });
      req.on('response', (res) => {
        res.resume();
        resolvePost(res.statusCode ?? 0);
      });
      req.on('error', (err) => {
        const cause = (err as { cause?: unknown }).cause;
        reject(cause instanceof CallbackRefusedError ? cause : err);
      });
      req.end(body);
    });
}
